#!/usr/bin/env python3
"""How much of an erased concept's effect on the noise prediction survives on SDXL through the pooled
text embedding, which SepME's cross-attention K/V shifts do not touch.

SDXL conditions its UNet twice on the prompt: the cross-attention context (what a shift changes) and the
second encoder's pooled, projected embedding, added to the timestep embedding through "text_time". After
an erasure the concept's context is shifted but its pooled embedding is the original one. This script
measures, with diffusers as the reference implementation:

  1. `sepme erase` on the model (float32 copy), then `sepme apply` (the erased UNet, shifts baked in);
  2. per concept, over --samples noise samples x --timesteps, with r(model, context, pooled) =
     eps(x_t; context, pooled) - eps_base(x_t; reference) and `reference` the unconditional conditioning
     guidance uses (zeros under force_zeros_for_empty_prompt, else the encoded ""), or --anchor's encoding:
       full     = |r(base,   c, pooled c)|        the concept's effect before erasure
       erased   = |r(erased, c, pooled c)|        what is left of it after erasure (real pooled)
       swapped  = |r(erased, c, pooled ref)|      the same with the reference's pooled embedding
       pooled   = |r(base,   ref, pooled c)|      the pooled path alone, before erasure
       via pool = |eps_erased(c, pooled c) - eps_erased(c, pooled ref)|   what the pooled path adds after erasure
     and the correlation SepME minimises, relative to the original's: corr(x) = <x, r_full> / <r_full, r_full>
     (1 = the concept's full direction, 0 = none of it), for erased and swapped.
Norms are root mean squares over elements, averaged over samples and timesteps; each row is divided by `full`.

Usage: scripts/.venv/bin/python scripts/measure_sdxl_pooled_path.py [--model DIR] [--concept C ...] [--shift F ...]
"""
import argparse
import glob
import os
import shutil
import sys

import torch

from check_lora_export import DEFAULT_SEPME, REPO, float32_copy, run

DEFAULT_MODEL = os.path.join(REPO, "Tests/ConceptErasureTests/Resources/tiny-sdxl-sepme")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="SDXL diffusers folder")
    p.add_argument("--sepme", default=DEFAULT_SEPME)
    p.add_argument("--concept", action="append", default=[], help="concept to erase (repeatable)")
    p.add_argument("--protect", action="append", default=[], help="protected prompt of the erasure")
    p.add_argument("--shift", action="append", default=[], help="use these shift files instead of erasing")
    p.add_argument("--anchor", help="reference prompt (default: the unconditional conditioning guidance uses)")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--max-iterations", type=int, default=200)
    p.add_argument("--beta", type=float, default=0.03)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--timesteps", default="900,700,500,300,100")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default="/tmp/sdxl-pooled-path")
    return p.parse_args()


def main():
    args = parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    base_dir = float32_copy(args.model, os.path.join(args.workdir, "base-float32"))
    concepts = args.concept or ["a red circle", "a striped blue star"]
    shifts = args.shift
    if not shifts:
        for old in glob.glob(os.path.join(args.workdir, "*.sepme.safetensors")):
            os.remove(old)
        cmd = [args.sepme, "erase", "--model", base_dir, "--images", str(args.images), "--generation-steps", "4",
               "--max-iterations", str(args.max_iterations), "--beta", str(args.beta), "--seed", str(args.seed)]
        for c in concepts:
            cmd += ["--concept", c]
        for p in args.protect or ["zq watermark"]:
            cmd += ["--protect", p]
        run(cmd + ["--output", args.workdir, "--quiet"])
        shifts = sorted(glob.glob(os.path.join(args.workdir, "*.sepme.safetensors")))
    applied = os.path.join(args.workdir, "erased")
    shutil.rmtree(applied, ignore_errors=True)
    cmd = [args.sepme, "apply", "--model", base_dir, "--output", applied, "--quiet"]
    for s in shifts:
        cmd += ["--shift", s]
    run(cmd)

    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    pipe = StableDiffusionXLPipeline.from_pretrained(base_dir, dtype=torch.float32, add_watermarker=False)
    erased_unet = UNet2DConditionModel.from_pretrained(os.path.join(applied, "unet"), dtype=torch.float32).eval()
    base_unet = pipe.unet.eval()
    with torch.no_grad():
        ctx, _, pooled, _ = pipe.encode_prompt(concepts, do_classifier_free_guidance=False)
        if args.anchor is None:
            _, ref_ctx, _, ref_pooled = pipe.encode_prompt(concepts[:1], do_classifier_free_guidance=True)
            reference = "unconditional (zeros)" if pipe.config.force_zeros_for_empty_prompt else "unconditional ('')"
        else:
            ref_ctx, _, ref_pooled, _ = pipe.encode_prompt([args.anchor], do_classifier_free_guidance=False)
            reference = repr(args.anchor)
    cfg = base_unet.config
    size = cfg.sample_size * pipe.vae_scale_factor
    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)
    timesteps = [int(t) for t in args.timesteps.split(",")]
    g = torch.Generator().manual_seed(args.seed)
    samples = torch.randn(args.samples, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=g)

    def eps(unet, x, t, c, p):
        n = x.shape[0]
        return unet(x, t, encoder_hidden_states=c.expand(n, -1, -1), added_cond_kwargs={
            "text_embeds": p.expand(n, -1), "time_ids": time_ids.expand(n, -1)}).sample

    def rms(x):
        return float(x.pow(2).mean().sqrt())

    print(f"\nmodel {args.model}; shifts: {', '.join(os.path.basename(s) for s in shifts)}; reference {reference}")
    print(f"{args.samples} samples x timesteps {timesteps}; values relative to |full| (the concept's effect before erasure)")
    header = f"{'concept':<22} {'|full|':>9} {'erased':>8} {'swapped':>8} {'pooled':>8} {'via pool':>9} {'corr erased':>12} {'corr swapped':>13}"
    print(header)
    print("-" * len(header))
    for i, concept in enumerate(concepts):
        c, p = ctx[i:i + 1], pooled[i:i + 1]
        sums = dict(full=0.0, erased=0.0, swapped=0.0, pooled=0.0, via=0.0, corr_e=0.0, corr_s=0.0)
        with torch.no_grad():
            for t in timesteps:
                ref = eps(base_unet, samples, t, ref_ctx, ref_pooled)
                full = eps(base_unet, samples, t, c, p) - ref
                erased_real = eps(erased_unet, samples, t, c, p)
                erased_swap = eps(erased_unet, samples, t, c, ref_pooled)
                pooled_only = eps(base_unet, samples, t, ref_ctx, p) - ref
                e, s = erased_real - ref, erased_swap - ref
                sums["full"] += rms(full)
                sums["erased"] += rms(e)
                sums["swapped"] += rms(s)
                sums["pooled"] += rms(pooled_only)
                sums["via"] += rms(erased_real - erased_swap)
                sums["corr_e"] += float((e * full).sum() / (full * full).sum())
                sums["corr_s"] += float((s * full).sum() / (full * full).sum())
        n = len(timesteps)
        f = sums["full"]
        print(f"{concept:<22} {f / n:>9.4f} {sums['erased'] / f:>8.3f} {sums['swapped'] / f:>8.3f} {sums['pooled'] / f:>8.3f} "
              f"{sums['via'] / f:>9.3f} {sums['corr_e'] / n:>12.3f} {sums['corr_s'] / n:>13.3f}")
    print("(erased: real pooled embedding; swapped: the reference's pooled embedding; pooled: base model, reference "
          "context with the concept's pooled embedding; via pool: erased model, real minus swapped pooled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
