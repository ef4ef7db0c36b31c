"""sepme against PyTorch on the three components of a Stable Diffusion 1.x pipeline, interleaved in one run.

For each round and each component, `sepme bench <component>` and `scripts/bench_torch.py --what <component>`
run one after the other (sepme first in odd rounds, PyTorch first in even ones), each in its own process,
so that a change in the machine's load falls on both. Prints every pair and, per component, the range of
the per-round time ratios sepme / PyTorch and both sides' peak resident memory.

  unet   SD1.4 UNet, 64x64 latent, 77 tokens: the no-grad forward, and forward + backward into the
         cross-attention to_k / to_v weights (`sepme bench unet`)
  vae    SD1.4 VAE decoder, 64x64 latent -> 512x512 image (`sepme bench vae`)
  clip   SD1.x CLIP text encoder (ViT-L/14), one row of 77 tokens (`sepme bench clip`)
  unet-bf16  the UNet's no-grad forward with bf16 products: `sepme bench unet --bf16` against PyTorch's
         torch.autocast("cpu", bfloat16) (not in the default set)
  load   loading the diffusers folder --model (`sepme bench load` against StableDiffusionPipeline.from_pretrained
         in fp32): the first load of the process and the fastest later one (not in the default set)

Usage: scripts/.venv/bin/python scripts/bench_vs_torch.py [--sepme .build/release/sepme] [--rounds 2]
       [--repeats 3] [--components unet,vae,clip] [--model DIR (for load)]
Environment: passed through (OPENBLAS_CORETYPE, SEPME_SGEMM=openblas, SEPME_THREADS, ...).
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Per component: the arguments of each side and the figures read from its output.
COMPONENTS = {
    "unet": (["bench", "unet", "--config", "sd14", "--size", "64"], ["--what", "unet", "--size", "64"],
             ["forward", "forward+backward"]),
    "unet-bf16": (["bench", "unet", "--config", "sd14", "--size", "64", "--bf16"],
                  ["--what", "unet", "--size", "64", "--bf16"], ["forward bf16"]),
    "vae": (["bench", "vae", "--size", "64"], ["--what", "vae", "--size", "64"], ["forward"]),
    "clip": (["bench", "clip", "--tokens", "77"], ["--what", "clip", "--tokens", "77"], ["forward"]),
    "load": (["bench", "load"], ["--what", "load"], ["first load", "load"]),
}


def run(command):
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    figures = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^(forward|forward bf16|forward\+backward|first load|load):\s+([0-9.]+) s", line)
        if m:
            figures[m.group(1)] = float(m.group(2))
        m = re.match(r"^peak resident memory \((?:VmHWM|maxrss)\): ([0-9.]+) GB", line)
        if m:
            figures["peak GB"] = float(m.group(1))
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sepme", default=".build/release/sepme")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--components", default="unet,vae,clip")
    parser.add_argument("--model", help="the diffusers SD 1.x folder the load component loads")
    args = parser.parse_args()
    names = [c for c in args.components.split(",") if c]
    for c in names:
        if c not in COMPONENTS:
            sys.exit(f"--components: unknown component {c!r} (known: {', '.join(COMPONENTS)})")
    if "load" in names and not args.model:
        sys.exit("--components load needs --model (a diffusers SD 1.x folder)")
    repeats = ["--repeats", str(args.repeats)]
    ratios = {}
    memory = {}
    for r in range(args.rounds):
        for c in names:
            sepme_args, torch_args, keys = COMPONENTS[c]
            if c == "load":
                sepme_args, torch_args = sepme_args + ["--model", args.model], torch_args + ["--model", args.model]
            sides = [("sepme", [args.sepme] + sepme_args + repeats),
                     ("torch", [sys.executable, os.path.join(HERE, "bench_torch.py")] + torch_args + repeats)]
            if r % 2 == 1:
                sides.reverse()
            got = {name: run(command) for name, command in sides}
            for key in keys:
                s, t = got["sepme"].get(key), got["torch"].get(key)
                if s is None or t is None:
                    sys.exit(f"round {r + 1}, {c}: no '{key}' figure in an output")
                ratios.setdefault((c, key), []).append(s / t)
                print(f"round {r + 1} ({sides[0][0]} first) {c} {key}: sepme {s:.4f} s, PyTorch {t:.4f} s, "
                      f"ratio {s / t:.3f}", flush=True)
            for name in ("sepme", "torch"):
                memory.setdefault((c, name), []).append(got[name].get("peak GB", float("nan")))
    print()
    print("| component | measurement | sepme / PyTorch time (per round) | peak resident memory, sepme / PyTorch |")
    print("|---|---|---|---|")
    for (c, key), values in ratios.items():
        mem = f"{max(memory[(c, 'sepme')]):.2f} GB / {max(memory[(c, 'torch')]):.2f} GB"
        spread = f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"
        print(f"| {c} | {key} | {spread} | {mem} |")


if __name__ == "__main__":
    main()
