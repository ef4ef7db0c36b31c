#!/usr/bin/env python3
"""PyTorch reference numbers for `sepme bench toy`: the embedded toy model loaded with diffusers /
transformers, one prompt with its seeds in one batch, classifier-free guidance (both halves in one UNet
call, as diffusers' StableDiffusionPipeline), the folder's scheduler, fp32, 2 threads. Prints the same
figures as `sepme bench toy` (images/s of wall time, CPU seconds per image, GFLOP/s with the operations
counted by torch.utils.flop_counter on a first, untimed generation).

    scripts/.venv/bin/python scripts/bench_toy_torch.py Sources/Toy/Resources/toy-model --seeds 16 --repeats 5
"""
import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from toy_sampling import ToyModel

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--prompt", default="a striped circle")
parser.add_argument("--seeds", type=int, default=16)
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--guidance", type=float, default=4.0)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.set_num_threads(2)
model = ToyModel(args.model)


def generate():
    return model.sample(args.prompt, args.seeds, args.seed, args.steps, args.guidance)


print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, \"{args.prompt}\", {args.seeds} seeds per call, "
      f"{args.steps} steps, guidance {args.guidance}")
with FlopCounterMode(display=False) as counter:
    generate()
flops = counter.get_total_flops()
evaluations = args.steps * (2 if args.guidance > 1 else 1)
print(f"counted: {flops / 1e9:.3f} GFLOP per generation, {flops / 1e9 / (args.seeds * evaluations):.4f} GFLOP per image "
      f"per UNet evaluation; torch.utils.flop_counter lists no CPU fused-attention kernel, sepme counts attention")
wall, cpu = [], []
for r in range(args.repeats):
    c0, t0 = time.process_time(), time.perf_counter()
    generate()
    wall.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    print(f"run {r + 1}: {wall[-1]:.3f} s wall, {cpu[-1]:.3f} s CPU; {args.seeds / wall[-1]:.2f} images/s, "
          f"{cpu[-1] / args.seeds:.3f} CPU s per image, {flops / wall[-1] / 1e9:.1f} GFLOP/s wall")
sw, sc = sorted(wall), sorted(cpu)
mw, mc = sw[len(sw) // 2], sc[len(sc) // 2]
print(f"images/s (wall): median {args.seeds / mw:.2f}, range {args.seeds / sw[-1]:.2f}-{args.seeds / sw[0]:.2f}; "
      f"CPU s per image: median {mc / args.seeds:.3f}, range {sc[0] / args.seeds:.3f}-{sc[-1] / args.seeds:.3f}")
