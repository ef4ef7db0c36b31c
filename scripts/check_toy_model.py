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
import inspect
import json
import os
import subprocess
import sys
import tempfile

import diffusers
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file
from transformers import CLIPTextModel, CLIPTokenizer

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
unet, unet_info = UNet2DConditionModel.from_pretrained(os.path.join(args.model, "unet"), low_cpu_mem_usage=False,
                                                       output_loading_info=True)
text_encoder, text_info = CLIPTextModel.from_pretrained(os.path.join(args.model, "text_encoder"), output_loading_info=True)
unet, text_encoder = unet.eval(), text_encoder.eval()
for name, info in [("unet", unet_info), ("text_encoder", text_info)]:
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and len(v)}
    # transformers lists the non-persistent position_ids buffer for some versions; it is not a weight.
    bad = {k: [x for x in v if not str(x).endswith("position_ids")] for k, v in bad.items()}
    if any(bad.values()):
        sys.exit(f"{name}: not a strict load: {bad}")
tokenizer = CLIPTokenizer.from_pretrained(os.path.join(args.model, "tokenizer"))
with open(os.path.join(args.model, "scheduler", "scheduler_config.json")) as f:
    scheduler_class = getattr(diffusers, json.load(f)["_class_name"])
scheduler = scheduler_class.from_pretrained(os.path.join(args.model, "scheduler"))
# StableDiffusionPipeline.prepare_extra_step_kwargs: the generator goes to schedulers that draw noise.
takes_generator = "generator" in inspect.signature(scheduler.step).parameters
print(f"loaded: {scheduler_class.__name__}, UNet {sum(p.numel() for p in unet.parameters())} parameters, text encoder "
      f"{sum(p.numel() for p in text_encoder.parameters())}, vocabulary {len(tokenizer)}")


def embed(texts):
    ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return text_encoder(ids)[0]


worst = 0.0
with torch.no_grad():
    for prompt in prompts:
        b = args.batch_size
        cond = embed([prompt] * b)
        uncond = embed([""] * b)
        context = torch.cat([uncond, cond])
        g = torch.Generator("cpu").manual_seed(args.seed)
        size = unet.config.sample_size
        latents = torch.randn((b, unet.config.in_channels, size, size), generator=g) * scheduler.init_noise_sigma
        scheduler.set_timesteps(args.steps)
        for t in scheduler.timesteps:
            eps = unet(torch.cat([latents] * 2), t, encoder_hidden_states=context).sample
            e_u, e_c = eps.chunk(2)
            extra = {"generator": g} if takes_generator else {}
            latents = scheduler.step(e_u + args.guidance * (e_c - e_u), t, latents, **extra).prev_sample
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
