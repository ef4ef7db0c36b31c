"""Summarises scripts/many_concepts_study.sh's folder as the Markdown table of docs/benchmarks.md's
"Many concepts" section: per K, the plan's null-space mode and tolerance, the largest leak bound,
the largest leak `sepme compose` measured on a kept prompt or another concept, the largest relative
change of the watermark's and blank prompt's keys and values, the erased concepts' accuracy with
every shift applied, and the concepts restored identical in 8 bits with the other shifts applied.
Usage: python3 scripts/summarize_many_concepts.py [OUT]"""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "many-concepts"
print("| concepts | null space | tolerance | largest leak bound ℓ | largest measured leak | largest change of the watermark / blank prompt | compose | erased accuracy (mean, max) | before | restored identical in 8 bits | largest pixel difference when restored |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for k in (6, 12, 18, 24):
    d = os.path.join(out, f"k{k}")
    if not os.path.exists(os.path.join(d, "composition.json")):
        continue
    plan = json.load(open(os.path.join(d, "plan.json")))
    comp = json.load(open(os.path.join(d, "composition.json")))["interference"]
    bounds = [c["leak_bound"] for c in plan["concepts"] if c.get("leak_bound") is not None]
    modes = {c["null_space"]["mode"] for c in plan["concepts"] if c.get("null_space")}
    dims = [c["null_space"]["dimension"] for c in plan["concepts"] if c.get("null_space")]
    tol = plan["plan"]["hyperparameters"].get("tolerance")
    cols = comp["columns"]
    leak = max(comp["normalised_leak"][i][j] for i in range(len(comp["shifts"])) for j in range(len(cols))
               if not (cols[j]["kind"] == "concept" and i == j))
    kept = max(comp["relative_change"][i][j] for i in range(len(comp["shifts"])) for j in range(len(cols)) if cols[j]["kind"] != "concept")
    status = open(os.path.join(d, "compose.status")).read().strip()
    erased = None
    if os.path.exists(os.path.join(d, "erased", "report.json")):
        rep = json.load(open(os.path.join(d, "erased", "report.json")))
        state = next(s for s in rep["states"] if s["name"] == "erased")
        accs = [c["accuracy"] for c in state["concepts"] if c["prompt"] != "zq watermark"]
        before = [c["accuracy_original"] for c in state["concepts"] if c["prompt"] != "zq watermark"]
        erased = (sum(accs) / len(accs), max(accs), sum(before) / len(before))
    identical, diffs, total = 0, [], 0
    for i in range(k):
        p = os.path.join(d, f"restored-{i}", "report.json")
        if not os.path.exists(p):
            continue
        rep = json.load(open(p))
        state = next(s for s in rep["states"] if s["name"] == "erased")
        total += 1
        identical += all(c["identical_8bit"] for c in state["concepts"])
        diffs.append(max(c["mean_abs_pixel_diff"] for c in state["concepts"]))
    mode = "/".join(sorted(modes)) + f" (dim {min(dims)}–{max(dims)})"
    er = f"{erased[0]:.1%}, {erased[1]:.1%}" if erased else "–"
    be = f"{erased[2]:.1%}" if erased else "–"
    rs = f"{identical} / {total}" if total else "–"
    df = f"{max(diffs):.3g}" if diffs else "–"
    print(f"| {k} | {mode} | {tol if tol is not None else 'exact'} | {max(bounds):.2e} | {leak:.2e} | {kept:.2e} | {status} | {er} | {be} | {rs} | {df} |")
