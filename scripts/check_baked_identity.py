#!/usr/bin/env python3
"""8-bit identity of protected prompts when shifts are baked into the weights instead of acting as adapters.

sepme's adapter path zeroes a shift's term for tokens that do not reach its basis (the reach mask,
docs/method.md §1), so protected prompts give bit-identical images under it. `sepme apply` (W + ΣdW) and
`sepme export-lora` (a LoRA whose up·down is ΣdW) cannot apply that mask. This script measures, per
protected prompt, how many of the final 8-bit images stay identical to the original model's for the
same seeds on each way of using the shifts:

  sepme:     the adapter (`sepme generate --shift`) and the `sepme apply` folder, against `sepme generate`
             on the base model;
  diffusers: the `sepme apply` folder, and the `sepme export-lora` file in the diffusers and the kohya
             format loaded with `StableDiffusionPipeline.load_lora_weights`, unfused and after `fuse_lora()`,
             against the base model in diffusers (torch). A second base run is the control: torch must
             reproduce its own images bit for bit, else the comparison says nothing.

The toy model works in pixel space (no VAE), so diffusers' denoising loop is run by hand, as
scripts/check_toy_model.py does (classifier-free guidance as StableDiffusionPipeline; one generator for
a prompt's whole batch, as `sepme generate --seed S --batch-size N`), and the final sample becomes 8-bit
as VaeImageProcessor does: (x / 2 + 0.5).clip(0, 1) * 255, rounded half to even.

    scripts/.venv/bin/python scripts/check_baked_identity.py /tmp/demo-baked

reads the demo's report.json (seed, images per prompt, steps, guidance, the `baked` section's prompts and
the kept shift files). Without a demo folder give --shift and --prompt. Exit status 1 when the control fails
or a step fails, and with --require-identical also when a path is not identical.
"""
import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_MODEL = os.path.join(REPO, "Sources/Toy/Resources/toy-model")
DEFAULT_SEPME = next((p for p in (os.path.join(REPO, ".build/release/sepme"), os.path.join(REPO, ".build/debug/sepme"))
                     if os.path.exists(p)), os.path.join(REPO, ".build/release/sepme"))
WATERMARK = "zq watermark"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("demo", nargs="?", help="output folder of `sepme demo` (or `sepme eval --baked`)")
    p.add_argument("--model", help="diffusers folder of the base model (default: the report's, else the toy model)")
    p.add_argument("--shift", action="append", default=[], help="kept shift file (repeatable; default: the report's)")
    p.add_argument("--prompt", action="append", default=None,
                   help="prompt to check (repeatable; default: the report's baked prompts, else the watermark and blank)")
    p.add_argument("--seed", type=int)
    p.add_argument("--seeds", type=int, help="images per prompt")
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--scheduler", help="ddim, ddpm or pndm (default: the model folder's)")
    p.add_argument("--sepme", default=DEFAULT_SEPME, help="path of the sepme binary")
    p.add_argument("--workdir", default="/tmp/baked-identity", help="folder for the LoRA files and the applied model")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--require-identical", action="store_true", help="exit 1 when any path is not identical in 8 bits")
    return p.parse_args()


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"command failed with status {done.returncode}: {' '.join(cmd)}")


def settings_from(args):
    """Fills the arguments the user left out from the demo's report.json."""
    report = {}
    if args.demo:
        with open(os.path.join(args.demo, "report.json")) as f:
            report = json.load(f)
    s = report.get("settings", {})
    args.seed = args.seed if args.seed is not None else s.get("seed", 0)
    args.seeds = args.seeds or s.get("images_per_prompt", 16)
    args.steps = args.steps or s.get("steps", 20)
    args.guidance = args.guidance if args.guidance is not None else s.get("guidance", 4.0)
    args.scheduler = args.scheduler or s.get("scheduler")
    if not args.model:
        args.model = s.get("model") if s.get("model") and os.path.isdir(s["model"]) else TOY_MODEL
    baked = report.get("baked")
    if not args.shift:
        if not baked:
            raise SystemExit("give --shift, or a demo folder whose report.json has a `baked` section")
        state = next(st for st in report["states"] if st["name"] == baked["adapter_state"])
        for path in state["shift_files"]:
            if not os.path.exists(path):  # a relative path of the demo's working folder
                path = os.path.join(args.demo, "shifts", os.path.basename(path))
            args.shift.append(path)
    if args.prompt is None:
        args.prompt = [p["prompt"] for p in baked["prompts"]] if baked else [WATERMARK, ""]
    for path in args.shift:
        if not os.path.exists(path):
            raise SystemExit(f"shift file {path} does not exist")


def to_8bit(x):
    """[B, 3, H, W] float32 in [-1, 1] -> [B, H, W, 3] uint8 (VaeImageProcessor; numpy rounds half to even)."""
    x = np.asarray(x, dtype=np.float32)
    unit = np.clip(x / 2 + 0.5, 0, 1)
    return np.round(unit * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def compare(images, reference):
    """(identical images, images, largest |difference| in 8-bit levels, differing 8-bit values)."""
    diff = np.abs(images.astype(np.int16) - reference.astype(np.int16))
    same = int(sum(not d.any() for d in diff))
    return same, len(images), int(diff.max()), int(np.count_nonzero(diff))


# MARK: sepme

def sepme_images(args, prompt, model, shifts=()):
    with tempfile.TemporaryDirectory() as d:
        latents = os.path.join(d, "latents.safetensors")
        cmd = [args.sepme, "generate", "--model", model, "--prompt", prompt, "--seed", str(args.seed),
               "--batch-size", str(args.seeds), "--steps", str(args.steps), "--guidance", str(args.guidance),
               "--output", os.path.join(d, "images.png"), "--latents-out", latents, "--quiet"]
        if args.scheduler:
            cmd += ["--scheduler", args.scheduler]
        for s in shifts:
            cmd += ["--shift", s]
        run(cmd)
        return to_8bit(load_file(latents)["latents"].numpy())


# MARK: diffusers

class Diffusers:
    def __init__(self, model, scheduler_kind):
        import diffusers
        from transformers import CLIPTextModel, CLIPTokenizer
        self.model = model
        self.tokenizer = CLIPTokenizer.from_pretrained(os.path.join(model, "tokenizer"))
        self.text_encoder = CLIPTextModel.from_pretrained(os.path.join(model, "text_encoder")).eval()
        with open(os.path.join(model, "scheduler", "scheduler_config.json")) as f:
            name = f"{scheduler_kind.upper()}Scheduler" if scheduler_kind else json.load(f)["_class_name"]
        self.scheduler_class = getattr(diffusers, name)

    def unet(self, folder):
        from diffusers import UNet2DConditionModel
        return UNet2DConditionModel.from_pretrained(os.path.join(folder, "unet"), torch_dtype=torch.float32).eval()

    def pipeline(self, unet):
        """A StableDiffusionPipeline around `unet` without a VAE, for its LoRA loaders."""
        from diffusers import StableDiffusionPipeline
        return StableDiffusionPipeline(
            vae=None, text_encoder=self.text_encoder, tokenizer=self.tokenizer, unet=unet,
            scheduler=self.scheduler_class.from_pretrained(os.path.join(self.model, "scheduler")),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)

    def embed(self, texts):
        ids = self.tokenizer(texts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids)[0]

    @torch.no_grad()
    def images(self, unet, prompt, seed, n, steps, guidance):
        scheduler = self.scheduler_class.from_pretrained(os.path.join(self.model, "scheduler"))
        takes_generator = "generator" in inspect.signature(scheduler.step).parameters
        context = torch.cat([self.embed([""] * n), self.embed([prompt] * n)])
        g = torch.Generator("cpu").manual_seed(seed)
        size = unet.config.sample_size
        latents = torch.randn((n, unet.config.in_channels, size, size), generator=g) * scheduler.init_noise_sigma
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            x = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            e_u, e_c = unet(x, t, encoder_hidden_states=context).sample.chunk(2)
            extra = {"generator": g} if takes_generator else {}
            latents = scheduler.step(e_u + guidance * (e_c - e_u), t, latents, **extra).prev_sample
        return to_8bit(latents.numpy())


def main():
    args = parse_args()
    settings_from(args)
    torch.set_num_threads(args.threads)
    # diffusers' notices about the toy scheduler config and the LoRA file's missing text-encoder keys.
    import diffusers
    import transformers
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.disable_progress_bar()
    warnings.simplefilter("ignore", FutureWarning)
    os.makedirs(args.workdir, exist_ok=True)

    lora = {}
    for fmt in ("diffusers", "kohya"):
        lora[fmt] = os.path.join(args.workdir, f"lora-{fmt}.safetensors")
        run([args.sepme, "export-lora", "--format", fmt, "--output", lora[fmt]] + sum((["--shift", s] for s in args.shift), []))
    applied = os.path.join(args.workdir, "applied")
    shutil.rmtree(applied, ignore_errors=True)
    run([args.sepme, "apply", "--model", args.model, "--output", applied, "--quiet"] + sum((["--shift", s] for s in args.shift), []))

    prompts = args.prompt
    per_prompt = {p: {} for p in prompts}  # prompt -> path name -> (identical, total, max diff)
    control_failed = []

    for p in prompts:
        original = sepme_images(args, p, args.model)
        per_prompt[p]["sepme adapter (--shift)"] = compare(sepme_images(args, p, args.model, args.shift), original)
        per_prompt[p]["sepme apply folder"] = compare(sepme_images(args, p, applied), original)

    d = Diffusers(args.model, args.scheduler)
    gen = lambda unet, p: d.images(unet, p, args.seed, args.seeds, args.steps, args.guidance)
    base = d.unet(args.model)
    original = {p: gen(base, p) for p in prompts}
    for p in prompts:
        control = compare(gen(base, p), original[p])
        per_prompt[p]["diffusers base, second run (control)"] = control
        if control[0] != control[1]:
            control_failed.append(p)
    applied_unet = d.unet(applied)
    for p in prompts:
        per_prompt[p]["diffusers apply folder"] = compare(gen(applied_unet, p), original[p])
    for fmt in ("diffusers", "kohya"):
        pipe = d.pipeline(d.unet(args.model))
        pipe.load_lora_weights(lora[fmt], adapter_name=f"sepme_{fmt}")
        for p in prompts:
            per_prompt[p][f"diffusers LoRA {fmt} format"] = compare(gen(pipe.unet, p), original[p])
        pipe.fuse_lora()
        for p in prompts:
            per_prompt[p][f"diffusers LoRA {fmt} format, fused"] = compare(gen(pipe.unet, p), original[p])

    names = list(per_prompt[prompts[0]])
    label = lambda p: "'' (blank)" if p == "" else repr(p)
    width = max(len(n) for n in names)
    cols = [max(len(label(p)), 26) for p in prompts]
    print(f"model {args.model}; shifts {', '.join(os.path.basename(s) for s in args.shift)}")
    print(f"seed {args.seed}, {args.seeds} images per prompt, {args.steps} steps, guidance {args.guidance}, "
          f"scheduler {args.scheduler or d.scheduler_class.__name__}; torch {torch.__version__}")
    print("identical 8-bit images / images, against the original model in the same implementation "
          "(largest |difference| in 8-bit levels, differing 8-bit values)")
    print(f"{'path':<{width}} | " + " | ".join(f"{label(p):<{c}}" for p, c in zip(prompts, cols)))
    print("-" * (width + sum(c + 3 for c in cols)))
    for n in names:
        cells = [f"{s}/{t} (max {m}, {v} values)" for s, t, m, v in (per_prompt[p][n] for p in prompts)]
        print(f"{n:<{width}} | " + " | ".join(f"{c:<{w}}" for c, w in zip(cells, cols)))
    not_identical = [(n, p) for p in prompts for n in names if per_prompt[p][n][0] != per_prompt[p][n][1]]
    print()
    if control_failed:
        print(f"CONTROL FAILED: torch did not reproduce its own base images for {control_failed}; the comparison says nothing")
        return 1
    if not_identical:
        images = sum(per_prompt[p][n][1] - per_prompt[p][n][0] for n, p in not_identical)
        worst = max(per_prompt[p][n][2] for n, p in not_identical)
        print(f"not identical in 8 bits: {len(not_identical)} (path, prompt) pairs, {images} images in all, "
              f"by at most {worst} levels")
        return 1 if args.require_identical else 0
    print("every path identical in 8 bits on every prompt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
