#!/usr/bin/env bash
# Full-size SDXL (real architecture, random weights) against PyTorch in one run, one process at a
# time (sepme, then PyTorch), each under /usr/bin/time -v (wall time, peak resident set):
#   1. generate: 1024 x 1024, 1 step, guidance 5, from the folder of scripts/make_random_sd_folder.py
#   2. one SepME iteration at --train-size 512 (64 x 64 latents): `sepme bench erase-step --config sdxl
#      --sepme-only` and bench_torch.py --what erase-step with the same null-space rank
# Usage: scripts/bench_sdxl_full.sh RANDOM_SDXL_FOLDER OUT_DIR   (prints free memory before each run)
set -euo pipefail
model=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
sepme=$root/.build/release/sepme
python=$root/scripts/.venv/bin/python
mkdir -p "$out"
run() {  # name, command...
  local name=$1
  shift
  echo "== $name: $(date -u +%H:%M:%S), free memory: $(free -g | awk '/Mem:/ {print $7}') GB available"
  # A run that fails (the kernel's OOM killer at full size) is reported and the next one still runs.
  nice -n 15 /usr/bin/time -v "$@" > "$out/$name.out" 2> "$out/$name.err" || echo "$name failed: $(grep -m1 -E 'signal|Exit status' "$out/$name.err")"
  grep -E "Elapsed \(wall|Maximum resident" "$out/$name.err"
  tail -n 8 "$out/$name.out"
}
run sepme-generate "$sepme" generate --model "$model" --prompt "a castle on a hill" --steps 1 --guidance 5 \
  --width 1024 --height 1024 --seed 0 --output "$out/sepme.png"
grep -E "loaded" "$out/sepme-generate.err" | tail -n 1 || true
run torch-generate "$python" "$root/scripts/bench_torch.py" --what generate --model "$model" --size 1024 --steps 1
run sepme-erase-step "$sepme" bench erase-step --config sdxl --size 64 --sepme-only --json
# sepme's null-space rank for the PyTorch run (1967 with the benchmark's encoders and prompts, if sepme's run failed).
rank=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['result']['nullSpaceDimension'])" "$out/sepme-erase-step.out" 2> /dev/null || echo 1967)
run torch-erase-step "$python" "$root/scripts/bench_torch.py" --what erase-step --config sdxl --size 64 --rank "$rank"
