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

# Copies the finished pieces (JSON rows and reports, never images) from folder $1 to folder $2.
copy_rows() {
    local from=$1 to=$2
    [[ -d $from ]] || return 0
    (cd "$from" && find . \( -path './*/targets/*.json' -o -name 'benchmark.json' -o -name 'benchmark.md' \
        -o -name 'comparison.json' -o -name 'comparison.md' \) -type f -print0) |
        while IFS= read -r -d '' file; do
            if ! cmp -s "$from/$file" "$to/$file"; then
                mkdir -p "$(dirname "$to/$file")"
                cp "$from/$file" "$to/$file.tmp" && mv "$to/$file.tmp" "$to/$file"
            fi
        done
}

mkdir -p "$OUT" "$KEPT"
copy_rows "$KEPT" "$OUT"
"$SEPME" benchmark --method all --seeds 16 --output "$OUT" --resume &
run=$!
trap 'kill -INT $run 2>/dev/null; wait $run; copy_rows "$OUT" "$KEPT"; exit 130' INT TERM
while kill -0 $run 2>/dev/null; do
    sleep "$INTERVAL" &
    wait $! || true
    copy_rows "$OUT" "$KEPT"
done
status=0
wait $run || status=$?
copy_rows "$OUT" "$KEPT"
exit $status
