#!/usr/bin/env python3
"""PyTorch's own bf16 error on a Stable Diffusion folder, measured as `sepme bench generate` measures sepme's.

The same prompt, seed, sampler (the folder's scheduler) and step count are run twice with diffusers'
StableDiffusionPipeline on the CPU: in fp32, and under torch.autocast("cpu", bfloat16) (matmuls and
convolutions in bf16 through oneDNN, fp32 elsewhere). The final latents are compared as sepme compares its
bf16 and fp32 runs: max |bf16 - fp32| / max |fp32| and RMS(bf16 - fp32) / RMS(fp32).

    scripts/.venv/bin/python scripts/torch_bf16_error.py /work/sd14-random [--steps 20] [--guidance 4] [--seed 0]

The starting noise is drawn from torch.Generator('cpu').manual_seed(seed), as sepme's `--seed`; the two
stacks' fp32 latents agree (the pipeline parity tests), so the two error figures compare like with like.
"""
import argparse
import time

import torch
from diffusers import StableDiffusionPipeline


def latents(pipe, prompt, steps, guidance, seed):
    generator = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        out = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=generator,
                   output_type="latent")
    return out.images.float()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a diffusers Stable Diffusion folder")
    parser.add_argument("--prompt", default="a striped red circle")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    t0 = time.perf_counter()
    reference = latents(pipe, args.prompt, args.steps, args.guidance, args.seed)
    t1 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reduced = latents(pipe, args.prompt, args.steps, args.guidance, args.seed)
    t2 = time.perf_counter()
    difference = reduced - reference
    max_error = (difference.abs().max() / reference.abs().max()).item()
    rms_error = (difference.pow(2).mean().sqrt() / reference.pow(2).mean().sqrt()).item()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model}, {args.steps} steps, "
          f"guidance {args.guidance}, seed {args.seed}")
    print(f"fp32: {t1 - t0:.1f} s   bf16 autocast: {t2 - t1:.1f} s (one run each, weights cast on the fly)")
    print(f"final latents: max |bf16 - fp32| / max |fp32| = {max_error:.2e}, "
          f"RMS(bf16 - fp32) / RMS(fp32) = {rms_error:.2e}")


if __name__ == "__main__":
    main()
