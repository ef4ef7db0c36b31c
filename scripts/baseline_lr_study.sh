#!/usr/bin/env bash
# The learning-rate calibration of the fine-tuning baselines (docs/erasure-benchmark.md, "Baselines'
# learning rates"): ESD-x and CA erase striped on the benchmark's wordings ("striped", "a striped
# {shape}" over the twelve grid shapes) at each learning rate of a grid from the authors' up, and
# `sepme eval` scores six prompts (8 seeds) against the original model. The benchmark takes, per
# method, the smallest learning rate at which both striped prompts keep at most one striped image in
# eight. Each run is a few minutes on two cores; reports land in OUT/<method>-<lr>/.
#
#   scripts/baseline_lr_study.sh        # env: SEPME (the binary), OUT (work folder)
set -euo pipefail
cd "$(dirname "$0")/.."
SEPME=${SEPME:-.build/release/sepme}
OUT=${OUT:-baseline-lr-study}
mkdir -p "$OUT"
wordings=()
for shape in circle square triangle star cross heart diamond hexagon pentagon arrow crescent oval; do
    wordings+=(--wording "striped=a striped $shape")
done
prompts=("a striped circle" "a striped star" "a dotted square" "a red circle" "a circle" "a solid triangle")
run() {
    local method=$1 lr=$2
    shift 2
    local dir="$OUT/$method-$lr"
    [[ -f $dir/report.json ]] && return 0
    "$SEPME" erase --method "$method" --lr "$lr" "$@" --concept striped "${wordings[@]}" --output "$dir/shifts" --quiet
    "$SEPME" eval --shift "$dir/shifts/striped.sepme.safetensors" --concepts "${prompts[@]}" --seeds 8 --output "$dir" --quiet >/dev/null
}
for lr in 1e-5 3e-5 1e-4; do run esd-x "$lr"; done
for lr in 2e-6 2e-5 2e-4 6e-4 2e-3; do run ca "$lr" --anchor ""; done
# One row per run: each prompt's accuracy with the shift (its original's in the header) and the
# SSIM of the four prompts that should not change.
python3 - "$OUT" "${prompts[@]}" <<'PY'
import json, pathlib, re, sys
out, prompts = pathlib.Path(sys.argv[1]), sys.argv[2:]
rows, header = [], prompts
def order(path):
    method, lr = re.match(r"^(.*?)-(\d.*)$", path.parent.name).groups()
    return method, float(lr)
for path in sorted(out.glob("*/report.json"), key=order):
    report = json.loads(path.read_text())
    erased = {c["prompt"]: c for c in report["states"][-1]["concepts"]}
    header = [f"{p} ({erased[p]['accuracy_original'] * 100:.1f})" for p in prompts]
    rows.append((path.parent.name, [erased[p]["accuracy"] for p in prompts], [erased[p]["ssim"] for p in prompts[2:]]))
print("| run | " + " | ".join(header) + " | SSIM of the last four |")
print("|---|" + "---|" * (len(prompts) + 1))
for name, accuracy, ssim in rows:
    print(f"| {name} | " + " | ".join(f"{a * 100:.1f}" for a in accuracy) + " | " + " / ".join(f"{x:.2f}" for x in ssim) + " |")
PY
