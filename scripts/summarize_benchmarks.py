#!/usr/bin/env python3
"""One markdown table from several `sepme benchmark` runs: a row per run (folder name), with the
means of UA / IRA / CRA on training and held-out wordings, the retained SSIM, the composition's
UA / IRA / CRA, and whether restoration and protection were exact.

    scripts/summarize_benchmarks.py benchmark-study/*/benchmark.json
"""
import json
import os
import sys


def pct(v):
    return "–" if v is None else f"{100 * v:.1f}"


def mean(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def main(paths):
    if not paths:
        sys.exit("usage: summarize_benchmarks.py RUN/benchmark.json ...")
    print("| run | targets | UA | IRA | CRA | UA held-out | IRA held-out | CRA held-out | SSIM retained | "
          "composed UA | composed IRA | composed CRA | restored identical | protected identical | erasure s |")
    print("|" + "---|" * 15)
    for path in paths:
        with open(path) as f:
            b = json.load(f)
        rows = b["targets"]
        c = b.get("composition") or {}
        r = b.get("restoration")
        p = b.get("protection")
        restored = "–" if r is None else f"{r['concept_images_identical']}/{r['concept_images']}"
        protected = "–" if p is None else ("yes" if p["identical"] else "no")
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        print(f"| {name} | {len(rows)} | {pct(mean(rows, 'ua'))} | {pct(mean(rows, 'ira'))} | {pct(mean(rows, 'cra'))} | "
              f"{pct(mean(rows, 'ua_heldout'))} | {pct(mean(rows, 'ira_heldout'))} | {pct(mean(rows, 'cra_heldout'))} | "
              f"{mean(rows, 'ssim_retained') or 0:.3f} | {pct(c.get('ua_mean'))} | {pct(c.get('ira'))} | {pct(c.get('cra'))} | "
              f"{restored} | {protected} | {sum(x['seconds'] for x in rows):.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
