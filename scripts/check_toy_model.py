#!/usr/bin/env python3
"""Shows that the embedded toy model is an ordinary diffusers / transformers model.

Loads MODEL/unet with diffusers' UNet2DConditionModel, MODEL/text_encoder with transformers'
CLIPTextModel and MODEL/tokenizer with CLIPTokenizer (strictly: any missing or unexpected key is an
error), runs a 10-step text-to-image loop with the folder's scheduler (DDPM: ancestral steps drawing
their noise from the same generator, as the pipeline does) with classifier-free guidance exactly as diffusers'
StableDiffusionPipeline does (minus the VAE: the model works in pixel space), and compares the final
latents with `sepme generate --latents-out` for the same prompt and seed.

    scripts/.venv/bin/python scripts/check_toy_model.py Sources/Toy/Resources/toy-model --sepme .build/release/sepme
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from toy_sampling import ToyModel

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--sepme", default=".build/release/sepme")
parser.add_argument("--prompt", action="append", default=None)
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--guidance", type=float, default=4.0)
parser.add_argument("--batch-size", type=int, default=2)
args = parser.parse_args()
prompts = args.prompt or ["a red circle", "a striped blue star", "zq watermark", ""]

torch.set_num_threads(2)
model = ToyModel(args.model)
print(f"loaded: {model.scheduler_class.__name__}, UNet {sum(p.numel() for p in model.unet.parameters())} parameters, "
      f"text encoder {sum(p.numel() for p in model.text_encoder.parameters())}, vocabulary {len(model.tokenizer)}")

worst = 0.0
for prompt in prompts:
    b = args.batch_size
    latents = model.sample(prompt, b, args.seed, args.steps, args.guidance)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "latents.safetensors")
        subprocess.run([args.sepme, "generate", "--model", args.model, "--prompt", prompt, "--seed", str(args.seed),
                        "--steps", str(args.steps), "--guidance", str(args.guidance), "--batch-size", str(b),
                        "--output", os.path.join(d, "image.png"), "--latents-out", out, "--quiet"], check=True)
        ours = load_file(out)["latents"]
    err = (ours - latents).abs().max().item()
    worst = max(worst, err)
    print(f"{prompt!r:28} max |sepme - diffusers| = {err:.3g}")
print(f"worst {worst:.3g}")
sys.exit(0 if worst < 1e-3 else 1)
