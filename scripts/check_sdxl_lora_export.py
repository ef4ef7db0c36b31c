#!/usr/bin/env python3
"""End-to-end check of `sepme export-lora` on SDXL against diffusers' `StableDiffusionXLPipeline.load_lora_weights`.

Flow, on the tiny SDXL folder of scripts/make_sdxl_sepme_fixtures.py (a float32 copy of it, so that the fp16
rounding of `sepme apply`'s W + dW does not hide the export's own error):
  1. `sepme erase` makes SepME shift files for two concepts (one protected prompt) unless --shift is given;
  2. `sepme export-lora --rank full` writes their sum in the diffusers (PEFT) and the kohya layout (SGM block
     names, `lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k`);
  3. `sepme apply` writes a complete SDXL diffusers folder with the shifts baked in (the reference);
  4. diffusers loads the base folder as a StableDiffusionXLPipeline and each LoRA file with
     `load_lora_weights` (kohya keys through its own SGM conversion), and the UNet noise prediction (fixed
     random sample, several timesteps, each prompt's `encode_prompt` context and pooled embedding, the time ids
     of the folder's default size) is compared with that of the `sepme apply` folder, loaded by the same class.

Pass criteria (exit status 1 otherwise):
  - every LoRA'd UNet vs the `sepme apply` UNet: max|diff| / max|reference| <= 1e-4 for every prompt;
  - each format's adapter wraps exactly the cross-attention to_k / to_v modules;
  - on each erased prompt the LoRA'd output differs from the base output by more than 10x that tolerance;
  - on the blank prompt the LoRA'd output equals the base output within 1e-5 relative (the shift lies in
    the null space of the blank prompt's context, method.md §1);
  - the `sepme apply` folder loads as a StableDiffusionXLPipeline with every component of the base folder.

With --write-fixture the first shift file and diffusers' LoRA'd predictions are written to
Tests/ConceptErasureTests/Resources/sdxl-lora/ (`shift.sepme.safetensors`; `reference.safetensors`: "sample"
[1, 4, 8, 8], "<format>.eps" [T, P, 4, 8, 8] with that shift alone loaded as each format; metadata "prompts"
(one per line) and "timesteps"), which SDXLLoRAParityTests compares with sepme's own shifted UNet.

Usage: scripts/.venv/bin/python scripts/check_sdxl_lora_export.py [--workdir DIR] [--shift FILE ...] [--write-fixture]
"""
import argparse
import glob
import os
import shutil
import sys

import torch

from check_lora_export import DEFAULT_SEPME, REPO, float32_copy, run

DEFAULT_MODEL = os.path.join(REPO, "Tests/ConceptErasureTests/Resources/tiny-sdxl-sepme")
MATCH_TOLERANCE = 1e-4
BLANK_TOLERANCE = 1e-5
NON_VACUOUS_FACTOR = 10.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="SDXL diffusers folder")
    p.add_argument("--sepme", default=DEFAULT_SEPME, help="path of the sepme binary")
    p.add_argument("--shift", action="append", default=[], help="shift file (repeatable); default: erase two concepts")
    p.add_argument("--concept", action="append", default=[], help="concept to erase when no --shift is given")
    p.add_argument("--protect", action="append", default=[], help="protected prompt of the erase step")
    p.add_argument("--workdir", default="/tmp/sdxl-lora-check")
    p.add_argument("--max-iterations", type=int, default=20)
    p.add_argument("--beta", type=float, default=0.03)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timesteps", default="999,500,10")
    p.add_argument("--write-fixture", action="store_true", help="write Tests/ConceptErasureTests/Resources/sdxl-lora/")
    return p.parse_args()


def export(args, shifts, name):
    lora = {}
    for fmt in ("diffusers", "kohya"):
        lora[fmt] = os.path.join(args.workdir, f"{name}-{fmt}.safetensors")
        cmd = [args.sepme, "export-lora", "--format", fmt, "--rank", "full", "--output", lora[fmt]]
        for s in shifts:
            cmd += ["--shift", s]
        run(cmd)
    return lora


def make_artifacts(args):
    os.makedirs(args.workdir, exist_ok=True)
    base = float32_copy(args.model, os.path.join(args.workdir, "base-float32"))
    shifts = args.shift
    concepts = args.concept or ["a red circle", "a striped blue star"]
    protect = args.protect or ["zq watermark"]
    if not shifts:
        for old in glob.glob(os.path.join(args.workdir, "*.sepme.safetensors")):
            os.remove(old)
        cmd = [args.sepme, "erase", "--model", base, "--images", "2", "--generation-steps", "3",
               "--max-iterations", str(args.max_iterations), "--beta", str(args.beta)]
        for c in concepts:
            cmd += ["--concept", c]
        for p in protect:
            cmd += ["--protect", p]
        run(cmd + ["--output", args.workdir, "--quiet"])
        shifts = sorted(glob.glob(os.path.join(args.workdir, "*.sepme.safetensors")))
    lora = export(args, shifts, "lora")
    applied = os.path.join(args.workdir, "applied")
    shutil.rmtree(applied, ignore_errors=True)
    cmd = [args.sepme, "apply", "--model", base, "--output", applied, "--quiet"]
    for s in shifts:
        cmd += ["--shift", s]
    run(cmd)
    return base, shifts, lora, applied, concepts, protect


def write_fixture(shift, results, sample, prompts, timesteps):
    from safetensors.torch import save_file
    out = os.path.join(REPO, "Tests/ConceptErasureTests/Resources/sdxl-lora")
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(shift, os.path.join(out, "shift.sepme.safetensors"))
    tensors = {"sample": sample.contiguous()}
    for fmt, eps in results.items():
        tensors[f"{fmt}.eps"] = torch.stack([eps[t] for t in timesteps]).contiguous()
    save_file(tensors, os.path.join(out, "reference.safetensors"),
              metadata={"prompts": "\n".join(prompts), "timesteps": ",".join(str(t) for t in timesteps)})
    print(f"wrote {out}")


def main():
    args = parse_args()
    base_dir, shifts, lora, applied, concepts, protect = make_artifacts(args)
    from diffusers import StableDiffusionXLPipeline

    def load(folder):
        return StableDiffusionXLPipeline.from_pretrained(folder, dtype=torch.float32, add_watermarker=False)

    failures = []
    base = load(base_dir)
    baked = load(applied)
    for name in ("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "vae", "scheduler", "unet"):
        if getattr(baked, name) is None:
            failures.append(f"the apply folder has no {name}")
    prompts = [""] + concepts + protect + ["a green square"]
    with torch.no_grad():
        context, _, pooled, _ = base.encode_prompt(prompts, do_classifier_free_guidance=False)
    cfg = base.unet.config
    size = cfg.sample_size * base.vae_scale_factor
    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32).expand(len(prompts), -1)
    g = torch.Generator().manual_seed(args.seed)
    sample = torch.randn(1, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=g)
    timesteps = [int(t) for t in args.timesteps.split(",")]

    def predict(unet):  # -> {t: eps [P, C, h, w]}
        with torch.no_grad():
            return {t: unet(sample.expand(len(prompts), -1, -1, -1), t, encoder_hidden_states=context,
                            added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample for t in timesteps}

    def rel(a, b, i):  # max over timesteps of max|a - b| / max|b| for prompt i
        return max(float((a[t][i] - b[t][i]).abs().max() / b[t][i].abs().max()) for t in timesteps)

    ref_base, ref_baked = predict(base.unet), predict(baked.unet)
    shifted = sorted(n for n, _ in base.unet.named_modules() if n.endswith(".attn2.to_k") or n.endswith(".attn2.to_v"))

    def with_lora(files):
        out = {}
        for fmt, path in files.items():
            pipe = load(base_dir)
            pipe.load_lora_weights(path, adapter_name=f"sepme_{fmt}")
            wrapped = sorted(n[: -len(".lora_A")] for n, _ in pipe.unet.named_modules() if n.endswith(".lora_A"))
            if wrapped != shifted:
                failures.append(f"{fmt}: the adapter wraps {len(wrapped)} modules, expected the {len(shifted)} attn2 to_k/to_v")
            out[fmt] = predict(pipe.unet)
        return out

    results = with_lora(lora)
    if args.write_fixture:
        write_fixture(shifts[0], with_lora(export(args, shifts[:1], "fixture")), sample, prompts, timesteps)

    print(f"\nmodel {args.model} (float32 copy); shifts: {', '.join(os.path.basename(s) for s in shifts)}")
    print(f"sample [1, {cfg.in_channels}, {cfg.sample_size}, {cfg.sample_size}] seed {args.seed}; timesteps {timesteps}; "
          f"time ids {time_ids[0].tolist()}; {len(shifted)} projections")
    header = f"{'prompt':<24} {'kind':<9} {'base vs apply':>14} {'diffusers vs apply':>19} {'kohya vs apply':>15} {'lora vs base':>13}"
    print(header)
    print("-" * len(header))
    for i, prompt in enumerate(prompts):
        kind = "blank" if prompt == "" else "erased" if prompt in concepts else "protected" if prompt in protect else "other"
        errs = {fmt: rel(results[fmt], ref_baked, i) for fmt in results}
        moved = {fmt: rel(results[fmt], ref_base, i) for fmt in results}
        print(f"{repr(prompt):<24} {kind:<9} {rel(ref_baked, ref_base, i):>14.3e} {errs['diffusers']:>19.3e} "
              f"{errs['kohya']:>15.3e} {max(moved.values()):>13.3e}")
        for fmt, e in errs.items():
            if not e <= MATCH_TOLERANCE:
                failures.append(f"{fmt} LoRA vs sepme apply on {prompt!r}: {e:.3e} > {MATCH_TOLERANCE:g}")
            if kind == "erased" and not moved[fmt] > NON_VACUOUS_FACTOR * MATCH_TOLERANCE:
                failures.append(f"{fmt} LoRA barely changes erased prompt {prompt!r}: {moved[fmt]:.3e}")
            if kind == "blank" and not moved[fmt] <= BLANK_TOLERANCE:
                failures.append(f"{fmt} LoRA changes the blank prompt: {moved[fmt]:.3e} > {BLANK_TOLERANCE:g}")
    print(f"(max over timesteps of max|a - b| / max|b|; criteria: LoRA vs apply <= {MATCH_TOLERANCE:g}, erased prompts "
          f"LoRA vs base > {NON_VACUOUS_FACTOR * MATCH_TOLERANCE:g}, blank prompt LoRA vs base <= {BLANK_TOLERANCE:g})")
    if failures:
        print("\nFAILED:")
        for f in failures:
            print("  " + f)
        return 1
    print("\nPASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
