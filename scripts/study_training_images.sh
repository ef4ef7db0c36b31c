#!/usr/bin/env bash
# How many training images SepME needs, and whether seeing each once (the authors' loop: one pass
# over the generated images) or cycling a few (sepme's default) erases as well: `sepme demo` with
# 8, 64 and 256 generated images per concept, cycled within the demo's 200-iteration budget or
# seen at most once (iteration limit = image count). Prints one table row per run from each
# run's report.json. Resumable: a run whose report.json exists is not repeated.
# Usage: [SEPME=path/to/sepme] scripts/study_training_images.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-study-training-images}"
sepme="${SEPME:-.build/release/sepme}"   # build first: swift build -c release
mkdir -p "$out"
runs=("8 200" "8 8" "64 200" "64 64" "256 200")
for r in "${runs[@]}"; do
  set -- $r
  dir="$out/images-$1-max-$2"
  if [ ! -f "$dir/report.json" ]; then
    start=$(date +%s)
    "$sepme" demo --quiet --images "$1" --max-iterations "$2" --output "$dir"
    echo $(( $(date +%s) - start )) > "$dir/seconds"
  fi
done
python3 scripts/summarize_demo_reports.py "$out"/images-*
