#!/usr/bin/env bash
# Prompted-attribute accuracy of the embedded model before any erasure: every shape, colour and
# style concept, the watermark and the blank prompt, 32 seeds each, at the demo's sampling settings.
# Usage: [SEPME=path/to/sepme] scripts/eval_toy_concepts.sh [OUTPUT_DIR] [extra sepme eval flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-eval-report/concepts}"
shift || true
sepme="${SEPME:-.build/release/sepme}"   # build first: swift build -c release
"$sepme" eval --output "$out" --seeds 32 --steps 20 --guidance 4 "$@" --concepts \
  "a circle" "a square" "a triangle" "a star" "a cross" "a heart" \
  "a red circle" "a green square" "a blue triangle" "a yellow star" "a purple cross" "an orange heart" "a white circle" \
  "a solid square" "a striped star" "a dotted heart" "an outlined triangle" \
  "zq watermark" ""
