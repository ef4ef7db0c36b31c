#!/usr/bin/env bash
# Creates scripts/.venv with the Python reference stack that scripts/ use (fixture generators,
# scripts/check_lora_export.py, scripts/check_toy_model.py, scripts/bench_torch.py).
# torch: the CPU wheel from /opt/wheels when one is there, else PyTorch's CPU index (no CUDA download),
# else PyPI.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$wheel" ]; then
  .venv/bin/pip install -q "$wheel"
elif ! .venv/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; then
  echo "PyTorch's CPU index is unreachable; installing torch from PyPI (the CUDA build, about 3 GB)" >&2
  .venv/bin/pip install -q torch==2.13.0
fi
.venv/bin/pip install -q -r requirements.txt
echo "ready: scripts/.venv/bin/python"
