#!/usr/bin/env python3
"""The tables of docs/erasure-benchmark.md ("Results") and docs/comparison.md, from the rows that
scripts/full_benchmark.sh keeps under docs/results/full-benchmark/ (one JSON per finished target,
the original model's accuracy, the composition), so that the documents show what the rows say
even while the run is still under way.

    scripts/full_benchmark_tables.py                     # every method found, both tables
    scripts/full_benchmark_tables.py --method sepme      # one method's per-target table
    scripts/full_benchmark_tables.py --comparison        # the methods side by side
    scripts/full_benchmark_tables.py --rows DIR          # another run's folder (default: the kept rows)
    scripts/full_benchmark_tables.py --update docs/comparison.md   # refresh the tables a document marks

A document marks a table with a line `<!-- table: comparison -->` or `<!-- table: method NAME -->`
and ends it with `<!-- /table -->`; --update rewrites what lies between, through a temporary file.

Per target: UA / IRA / CRA on training / held-out templates, the original model's IRA on the same
retained prompts ("IRA before": what every method is bounded by), retained SSIM, mean absolute
pixel difference and classifier-feature Fréchet distance against the original images, the
erasure's iterations and seconds, and the two retained styles the erasure cost most. Means are
over the targets present; a method whose run is not finished says how many targets it has.
"""
import argparse
import re
import json
import os
import sys

METHODS = ["sepme", "uce", "esd-x", "ca"]
KEPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "results", "full-benchmark")


def pct(v):
    return "–" if v is None else f"{100 * v:.1f}"


def pair(a, b):
    return f"{pct(a)} / {pct(b)}"


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def hmean(values):
    if any(v is None for v in values):
        return None
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1 / v for v in values)


def load(path):
    with open(path) as f:
        return json.load(f)


def method_rows(folder):
    """(original accuracy by template set, target rows in the settings' order, composition or None)."""
    targets = os.path.join(folder, "targets")
    if not os.path.isdir(targets):
        return None, [], None
    original = None
    original_path = os.path.join(targets, "original.json")
    if os.path.exists(original_path):
        original = {s["templates"]: s for s in load(original_path)["result"]["sets"]}
    rows, composition = [], None
    for name in sorted(os.listdir(targets)):
        if not name.endswith(".json") or name == "original.json":
            continue
        data = load(os.path.join(targets, name))
        if name == "composition.json":
            composition = data["result"]
        else:
            rows.append(data)
    if rows:
        order = rows[0]["settings"].get("styles", []) + rows[0]["settings"].get("objects", [])
        rows.sort(key=lambda r: order.index(r["result"]["target"]) if r["result"]["target"] in order else len(order))
    return original, rows, composition


def before(original, row, templates):
    """The original model's IRA on the retained concepts of the row's domain (same prompts)."""
    if original is None or templates not in original:
        return None
    r = row["result"]
    domain = original[templates]["styles" if r["kind"] == "style" else "shapes"]
    return mean([acc for concept, acc in domain.items() if concept != r["target"]])


def lowest(original, row):
    r = row["result"]
    by = r.get("ira_by_concept") or {}
    worst = sorted(by.items(), key=lambda kv: kv[1])[:2]
    domain = (original or {}).get("training", {}).get("styles" if r["kind"] == "style" else "shapes", {})
    return ", ".join(f"{c} {pct(a)} ({pct(domain.get(c))})" for c, a in worst)


def secs(x):
    """Seconds to a precision that keeps a closed form's sub-second times visible."""
    return f"{x:.0f}" if x >= 10 else (f"{x:.1f}" if x >= 1 else f"{x:.2g}")


def kib(size):
    """A mean shift size in KiB, or "–" where no row recorded one (as `sepme benchmark`'s table)."""
    return "–" if size is None else f"{size / 1024:.0f}"


def per_target_table(method, original, rows):
    out = [
        f"| target | UA | IRA | IRA before erasure | CRA | SSIM retained | pixel diff | Fréchet | iterations | "
        f"erasure s | lowest retained (IRA, training; before erasure) |",
        "|" + "---|" * 11,
    ]
    for row in rows:
        r = row["result"]
        out.append(
            f"| {r['target']} | {pair(r['ua'], r['ua_heldout'])} | {pair(r['ira'], r['ira_heldout'])} | "
            f"{pair(before(original, row, 'training'), before(original, row, 'held-out'))} | "
            f"{pair(r['cra'], r['cra_heldout'])} | {r['ssim_retained']:.3f} | {r['pixel_diff_retained']:.3f} | "
            f"{r['frechet_retained']:.0f} | {r['iterations']} | {secs(r['seconds'])} | {lowest(original, row)} |")
    if rows:
        out.append(summary_line(f"**mean, {len(rows)} target{'s' if len(rows) != 1 else ''}**", original, rows))
        solid_free = [row for row in rows if row["result"]["target"] != "solid"]
        if 0 < len(solid_free) < len(rows):
            out.append(summary_line("**mean without solid**", original, solid_free))
    return "\n".join(out)


def summary_line(label, original, rows):
    m = {k: mean([row["result"][k] for row in rows])
         for k in ["ua", "ua_heldout", "ira", "ira_heldout", "cra", "cra_heldout", "ssim_retained",
                   "pixel_diff_retained", "frechet_retained"]}
    b_train = mean([before(original, row, "training") for row in rows])
    b_held = mean([before(original, row, "held-out") for row in rows])
    seconds = sum(row["result"]["seconds"] for row in rows)
    h_train = hmean([m["ua"], m["ira"], m["cra"]])
    h_held = hmean([m["ua_heldout"], m["ira_heldout"], m["cra_heldout"]])
    return (f"| {label} | {pair(m['ua'], m['ua_heldout'])} | {pair(m['ira'], m['ira_heldout'])} | "
            f"{pair(b_train, b_held)} | {pair(m['cra'], m['cra_heldout'])} | {m['ssim_retained']:.3f} | "
            f"{m['pixel_diff_retained']:.3f} | {m['frechet_retained']:.0f} | | {secs(seconds)} | "
            f"H-mean {pair(h_train, h_held)} |")


def composition_text(composition):
    if composition is None:
        return "composition: not measured yet"
    c, r, p = composition["composition"], composition["restoration"], composition["protection"]
    ua = ", ".join(f"{t} {pct(c['ua'][t])}" for t in c["targets"])
    still = ", ".join(f"{t} {pct(v)}" for t, v in sorted(r["still_erased_ua"].items()))
    protected = ", ".join(f"\"{q['prompt']}\" {q['identical']}/{q['images']}" for q in p["prompts"])
    return (f"composition of {', '.join(c['targets'])}: UA {ua} (mean {pct(c['ua_mean'])}), IRA {pct(c.get('ira'))}, "
            f"CRA {pct(c['cra'])}, SSIM retained {c['ssim_retained']:.3f}, {c['iterations']} iterations, "
            f"{secs(c['seconds'])} s; restoration of {r['restored']}: concept images identical "
            f"{r['concept_images_identical']}/{r['concept_images']}, grid images identical "
            f"{r['grid_images_identical']}/{r['grid_images']}, accuracy {pct(r['restored_accuracy'])} "
            f"(original {pct(r['original_accuracy'])}), still erased: {still}; protection: {protected}")


def comparison_table(root, methods):
    out = [
        "| method | targets | UA | IRA | CRA | H-mean | SSIM retained | pixel diff | Fréchet | erasure s (sum) | "
        "shift KiB | composed UA / IRA / CRA | restored identical (concept / grid images) | protected identical |",
        "|" + "---|" * 14,
    ]
    for method in methods:
        original, rows, composition = method_rows(os.path.join(root, method))
        if not rows:
            out.append(f"| {method} | 0 | | | | | | | | | | | | |")
            continue
        m = {k: mean([row["result"][k] for row in rows])
             for k in ["ua", "ua_heldout", "ira", "ira_heldout", "cra", "cra_heldout", "ssim_retained",
                       "pixel_diff_retained", "frechet_retained"]}
        h = pair(hmean([m["ua"], m["ira"], m["cra"]]), hmean([m["ua_heldout"], m["ira_heldout"], m["cra_heldout"]]))
        composed = restored = protected = "–"
        if composition is not None:
            c, r, p = composition["composition"], composition["restoration"], composition["protection"]
            composed = f"{pct(c['ua_mean'])} / {pct(c.get('ira'))} / {pct(c['cra'])}"
            restored = (f"{r['concept_images_identical']}/{r['concept_images']} · "
                        f"{r['grid_images_identical']}/{r['grid_images']}")
            protected = f"{sum(q['identical'] for q in p['prompts'])}/{sum(q['images'] for q in p['prompts'])}"
        out.append(
            f"| {method} | {len(rows)} | {pair(m['ua'], m['ua_heldout'])} | {pair(m['ira'], m['ira_heldout'])} | "
            f"{pair(m['cra'], m['cra_heldout'])} | {h} | {m['ssim_retained']:.3f} | {m['pixel_diff_retained']:.3f} | "
            f"{m['frechet_retained']:.0f} | {secs(sum(row['result']['seconds'] for row in rows))} | "
            f"{kib(mean([row['result'].get('shift_bytes') for row in rows]))} | {composed} | "
            f"{restored} | {protected} |")
    return "\n".join(out)


def marked_table(root, spec, present):
    """The table a marker names: `comparison`, or `method NAME` (per target, then the composition)."""
    if spec == "comparison":
        return comparison_table(root, present)
    match = re.fullmatch(r"method (\S+)", spec)
    if not match or match.group(1) not in METHODS:
        sys.exit(f"full_benchmark_tables.py: unknown table marker '{spec}'")
    original, rows, composition = method_rows(os.path.join(root, match.group(1)))
    return per_target_table(match.group(1), original, rows) + "\n\n" + composition_text(composition)


def update(path, root, present):
    with open(path) as f:
        text = f.read()
    pattern = re.compile(r"(<!-- table: (.+?) -->\n)(.*?)(<!-- /table -->)", re.S)
    if not pattern.search(text):
        sys.exit(f"full_benchmark_tables.py: {path} marks no table")
    text = pattern.sub(lambda m: m.group(1) + "\n" + marked_table(root, m.group(2), present) + "\n\n" + m.group(4), text)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=KEPT, help="folder with one sub-folder per method")
    parser.add_argument("--method", action="append", help="a method's per-target table (repeatable)")
    parser.add_argument("--comparison", action="store_true", help="only the methods side by side")
    parser.add_argument("--update", metavar="FILE", help="rewrite the tables FILE marks instead of printing")
    args = parser.parse_args()
    root = os.path.normpath(args.rows)
    present = [m for m in METHODS if os.path.isdir(os.path.join(root, m))]
    if not present:
        sys.exit(f"full_benchmark_tables.py: no method folder ({', '.join(METHODS)}) under {root}")
    if args.update:
        update(args.update, root, present)
        return
    if not args.comparison:
        for method in args.method or present:
            original, rows, composition = method_rows(os.path.join(root, method))
            print(f"### {method}\n")
            print(per_target_table(method, original, rows))
            print(f"\n{composition_text(composition)}\n")
    if args.comparison or not args.method:
        print("### methods side by side (training / held-out templates)\n")
        print(comparison_table(root, present))


if __name__ == "__main__":
    main()
