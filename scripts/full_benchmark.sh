#!/usr/bin/env bash
# The full benchmark of docs/erasure-benchmark.md and docs/comparison.md: every style of the
# embedded model, 16 seeds, both template sets, the composition columns, for sepme and the three
# baselines (`sepme benchmark --method all`). It takes longer than one working session, and a
# session may start on a fresh machine, so the finished pieces live in the repository: the rows
# (`<method>/targets/*.json`: each target's scores, the composition, the original model's accuracy)
# and, once a method is done, its benchmark.json and benchmark.md, under docs/results/full-benchmark/.
#
#   scripts/full_benchmark.sh          # env: SEPME (the binary), OUT (work folder), INTERVAL (s)
#
# It copies the kept rows into OUT, runs the benchmark with --resume (finished rows are skipped;
# the original images are made again, a group of prompts at a time), and every INTERVAL seconds
# copies new rows back; commit them. Images, shift files and figures stay in OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
SEPME=${SEPME:-.build/release/sepme}
OUT=${OUT:-full-benchmark}
INTERVAL=${INTERVAL:-60}
KEPT=docs/results/full-benchmark

source scripts/lib/kept_rows.sh

mkdir -p "$OUT" "$KEPT"
copy_rows "$KEPT" "$OUT"
run_keeping_rows "$OUT" "$KEPT" "$SEPME" benchmark --method all --seeds 16 --output "$OUT" --resume
