#!/usr/bin/env python3
"""End-to-end check of `sepme export-lora` against diffusers' own LoRA loaders.

Flow (every step can be skipped by passing its result):
  1. `sepme erase --method M` makes shift files for a few concepts on the tiny SD-layout model (unless --shift
     is given): SepME (`--variant separate|joint|full`) or a baseline (`--method uce`, dense ΔW per K/V
     projection; other methods' own flags pass through `--erase-arg`);
  2. `sepme export-lora --rank full` writes them as one exact LoRA in the diffusers (PEFT) and the kohya format,
     and `sepme export-lora` with its default rank rule (exact for SepME's factorised shifts, the smallest rank
     keeping 99.9 % of each projection's Frobenius energy once a shift is dense) as a diffusers file;
  3. `sepme apply` writes a diffusers folder with the shifts baked into the UNet weights (the reference);
  4. diffusers loads the base UNet, injects each LoRA file with its own loaders
     (`StableDiffusionPipeline.lora_state_dict` -> `UNet2DConditionModel.load_lora_adapter(prefix="unet")`;
     kohya keys go through diffusers' kohya conversion inside `lora_state_dict`, with its network_alphas),
     and compares the UNet noise prediction (fixed random sample, several timesteps, encoder hidden states
     from the tiny text encoder) with the UNet of the `sepme apply` folder.

Pass criteria (exit status 1 otherwise):
  - exact LoRA'd UNet vs `sepme apply` UNet: max|diff| / max|reference| <= 1e-4 for every prompt and format;
  - on each erased prompt the LoRA'd output differs from the base output by more than 10x that tolerance
    (so the comparison above is not vacuous);
  - on the blank prompt the LoRA'd output equals the base output within 1e-5 relative (decoupling: the
    shift lies in the null space of the blank prompt's embedding, method.md §1); only for SepME's separate
    and joint variants: `--variant full` changes every attn2 weight and the output bias (method.md §3), and
    the baselines' dense ΔW acts on every prompt (UCE keeps its preserve set only in the least-squares sense);
  - the kohya file's key names follow the `lora_unet_<diffusers module with . -> _>` convention.
Reported, not a criterion: the default export's error vs `sepme apply` (column "default vs apply"), i.e. what
its truncation costs on the UNet output, with its rank and the energy it kept (export-lora's summary).

Kohya names (what was verified here and what was not): the kohya file must use sd-scripts' SD1.x naming,
`lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight` / `.lora_up.weight` /
`.alpha`, i.e. the diffusers module path with dots replaced by underscores, and the kohya scale alpha / rank.
This script checks (a) that every key has that form, its module path is a real cross-attention to_k/to_v
Linear of this UNet, the factor shapes are [r, in] / [out, r], and all modules share one alpha; (b) that
diffusers' kohya converter maps each name back to that module (the loaded adapter wraps exactly the shifted
modules and reproduces the reference output, which also checks the alpha / rank scale); (c) that each name
matches the diffusers-style UNet name patterns A1111's built-in Lora extension rewrites to its compvis names
(`lora_unet_down_blocks_<i>_attentions_<j>_*`, `lora_unet_mid_block_attentions_<j>_*`,
`lora_unet_up_blocks_<i>_attentions_<j>_*`) and the naming ComfyUI derives from a diffusers UNet's keys
(`lora_unet_` + module path with `.` -> `_`). NOT verified: loading the file in A1111 or ComfyUI themselves
(neither is installed here); A1111's block-index arithmetic assumes SD1.x's two layers per block, which the
tiny model (one layer per block) does not have, so only the name patterns are checked, not the resolved
compvis module.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import torch
from safetensors import safe_open

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO, "Tests/ConceptErasureTests/Resources/tiny-sepme")
# The release build when there is one (the README builds with -c release), else the debug build.
DEFAULT_SEPME = next((p for p in (os.path.join(REPO, ".build/release/sepme"), os.path.join(REPO, ".build/debug/sepme"))
                     if os.path.exists(p)), os.path.join(REPO, ".build/release/sepme"))

MATCH_TOLERANCE = 1e-4     # LoRA'd vs baked-in, relative to max|reference|
BLANK_TOLERANCE = 1e-5     # LoRA'd vs base on the blank prompt, relative to max|base|
NON_VACUOUS_FACTOR = 10.0  # erased prompts must move by more than this times MATCH_TOLERANCE

# A1111 Lora extension: the diffusers-style UNet names it rewrites to compvis names (patterns written here).
A1111_UNET_PATTERNS = [
    re.compile(r"^lora_unet_down_blocks_\d+_attentions_\d+_.+$"),
    re.compile(r"^lora_unet_mid_block_attentions_\d+_.+$"),
    re.compile(r"^lora_unet_up_blocks_\d+_attentions_\d+_.+$"),
]
KOHYA_KEY = re.compile(r"^(lora_unet_[A-Za-z0-9_]+)\.(lora_down\.weight|lora_up\.weight|alpha|diff_b)$")


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"command failed with status {done.returncode}: {cmd[0]} {cmd[1]}")
    for line in done.stdout.splitlines()[-2:]:
        if line.strip():
            print("  " + line)
    return done.stdout


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="diffusers folder of the base model (tiny SD layout)")
    p.add_argument("--sepme", default=DEFAULT_SEPME, help="path of the sepme binary")
    p.add_argument("--shift", action="append", default=[], help="shift file (repeatable); default: erase --concept")
    p.add_argument("--method", default="sepme",
                   help="erasure method of the erase step (sepme, uce, or any other `sepme erase --method`)")
    p.add_argument("--preserve", action="append", default=[],
                   help="uce: preserved prompt (repeatable; default 'zq watermark', so not the blank prompt)")
    p.add_argument("--guide", help="uce: the guide prompt (default: sepme's, the blank prompt)")
    p.add_argument("--erase-arg", action="append", default=[],
                   help="extra argument passed verbatim to `sepme erase` (repeatable), e.g. --erase-arg=--anchor")
    p.add_argument("--concept", action="append", default=[], help="concept to erase when no --shift is given")
    p.add_argument("--protect", action="append", default=[], help="protected prompt for the erase step")
    p.add_argument("--prompt", action="append", default=[], help="extra prompt to compare on")
    p.add_argument("--workdir", default="/tmp/lora-check", help="folder for shifts, LoRA files and the applied model")
    p.add_argument("--max-iterations", type=int, default=30)
    p.add_argument("--beta", type=float, default=0.01)
    p.add_argument("--variant", default="separate", choices=["separate", "joint", "full"],
                   help="sepme's erasure variant; `full` also changes q, out and the output bias (diff_b / lora_B.bias)")
    p.add_argument("--lr", type=float, help="learning rate of the erase step (default: the variant's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timesteps", default="999,500,10", help="comma-separated UNet timesteps")
    p.add_argument("--keep-dtype", action="store_true",
                   help="run on the model as stored; by default a float32 copy is made first, because `sepme apply` "
                        "keeps a float16 model's dtype and the float16 rounding of W + dW (~1e-4 relative on the "
                        "output) would hide the export's own error")
    return p.parse_args()


def float32_copy(model, dest):
    """Copies a diffusers folder with every float tensor of every .safetensors file upcast to float32 (exact)."""
    from safetensors.torch import save_file
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(model, dest, ignore=shutil.ignore_patterns("*.safetensors"))
    for src in glob.glob(os.path.join(model, "**", "*.safetensors"), recursive=True):
        with safe_open(src, "pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata()
        tensors = {k: (t.float() if t.is_floating_point() else t).contiguous() for k, t in tensors.items()}
        save_file(tensors, os.path.join(dest, os.path.relpath(src, model)), metadata=meta)
    return dest


def make_artifacts(args):
    os.makedirs(args.workdir, exist_ok=True)
    if not args.keep_dtype:
        args.model = float32_copy(args.model, os.path.join(args.workdir, "base-float32"))
    shifts = args.shift
    concepts = args.concept or ["a red circle", "a striped blue star"]
    if not shifts:
        for old in glob.glob(os.path.join(args.workdir, "*.sepme.safetensors")):
            os.remove(old)
        cmd = [args.sepme, "erase", "--model", args.model, "--method", args.method]
        for c in concepts:
            cmd += ["--concept", c]
        if args.method == "sepme":
            for p in args.protect or (["zq watermark"] if args.variant != "full" else []):
                cmd += ["--protect", p]
            cmd += ["--images", "2", "--generation-steps", "4", "--max-iterations", str(args.max_iterations),
                    "--variant", args.variant]
            if args.variant != "full":
                cmd += ["--beta", str(args.beta)]
            if args.lr is not None:
                cmd += ["--lr", str(args.lr)]
        elif args.method == "uce":
            for p in args.preserve or ["zq watermark"]:
                cmd += ["--preserve", p]
            if args.guide is not None:
                cmd += ["--guide", args.guide]
        cmd += args.erase_arg + ["--output", args.workdir, "--quiet"]
        run(cmd)
        shifts = sorted(glob.glob(os.path.join(args.workdir, "*.sepme.safetensors")))
        if not shifts:
            raise SystemExit(f"sepme erase wrote no *.sepme.safetensors into {args.workdir}")
    lora = {}
    # The exact exports (every projection at its numerical rank) for the parity check, and the default one.
    for name, fmt, rank in (("diffusers", "diffusers", ["--rank", "full"]), ("kohya", "kohya", ["--rank", "full"]),
                            ("default", "diffusers", [])):
        lora[name] = os.path.join(args.workdir, f"lora-{name}.safetensors")
        cmd = [args.sepme, "export-lora", "--format", fmt, "--output", lora[name]] + rank
        for s in shifts:
            cmd += ["--shift", s]
        printed = run(cmd)
    # export-lora's summary of the default export: "wrote <file>: ..., rank up to R ..." / "energy kept ...".
    default_summary = "; ".join(l.split(": ", 1)[-1] if l.startswith("wrote ") else l for l in printed.splitlines() if l.strip())
    applied = os.path.join(args.workdir, "applied")
    shutil.rmtree(applied, ignore_errors=True)
    cmd = [args.sepme, "apply", "--model", args.model, "--output", applied, "--quiet"]
    for s in shifts:
        cmd += ["--shift", s]
    run(cmd)
    return shifts, lora, applied, default_summary


def shift_metadata(shift_files):
    metas = []
    for path in shift_files:
        with safe_open(path, "pt") as f:
            metas.append(json.loads(f.metadata()["sepme"]))
    return metas


def decoupled(metas):
    """True when every shift is SepME's factorised kind, which leaves the blank prompt unchanged."""
    return all(m.get("method", "sepme") == "sepme" and m["variant"] != "full" for m in metas)


def shifted_module(name, variant):
    pattern = r"\.attn2\.(to_q|to_k|to_v|to_out\.0)$" if variant == "full" else r"\.attn2\.to_[kv]$"
    return re.search(pattern, name) is not None


def check_kohya_keys(path, unet, variant):
    """Returns a list of problems with the kohya file's names (empty when all is well)."""
    problems = []
    modules = {name: m for name, m in unet.named_modules()}
    expected = {"_".join(["lora_unet"] + name.split(".")): name for name in modules if shifted_module(name, variant)}
    with safe_open(path, "pt") as f:
        keys = list(f.keys())
        groups, alphas = {}, set()
        for key in keys:
            m = KOHYA_KEY.match(key)
            if not m:
                problems.append(f"{key}: not lora_unet_<module>.lora_down.weight / .lora_up.weight / .alpha / .diff_b")
                continue
            groups.setdefault(m.group(1), set()).add(m.group(2))
        for name, parts in sorted(groups.items()):
            if parts - {"diff_b"} != {"lora_down.weight", "lora_up.weight", "alpha"}:
                problems.append(f"{name}: has {sorted(parts)}, expected lora_down.weight, lora_up.weight, alpha")
            if name not in expected:
                problems.append(f"{name}: no shifted attn2 module of this UNet has that kohya name")
                continue
            if "diff_b" in parts and tuple(f.get_tensor(name + ".diff_b").shape) != (modules[expected[name]].out_features,):
                problems.append(f"{name}.diff_b: shape is not [out_features]")
            if not any(p.match(name) for p in A1111_UNET_PATTERNS):
                problems.append(f"{name}: matches none of A1111's diffusers-style UNet name patterns")
            linear = modules[expected[name]]
            down, up = f.get_tensor(name + ".lora_down.weight"), f.get_tensor(name + ".lora_up.weight")
            alpha = f.get_tensor(name + ".alpha")
            r = down.shape[0]
            if down.shape != (r, linear.in_features) or up.shape != (linear.out_features, r):
                problems.append(f"{name}: down {tuple(down.shape)} / up {tuple(up.shape)}, expected "
                                f"[r, {linear.in_features}] / [{linear.out_features}, r]")
            if alpha.numel() != 1 or not float(alpha) > 0:
                problems.append(f"{name}.alpha = {alpha.tolist()}, expected one positive number")
            else:
                alphas.add(float(alpha))
    # One alpha for all modules: diffusers 0.42 mis-scales kohya SD1 modules whose alpha differs from
    # the most common one (get_peft_kwargs keeps their alpha_pattern keys in the old processor form).
    if len(alphas) > 1:
        problems.append(f"alphas differ between modules ({sorted(alphas)}); diffusers would mis-scale some")
    return problems, len(groups)


def load_lora_unet(unet_dir, lora_path, adapter):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    unet = UNet2DConditionModel.from_pretrained(unet_dir, torch_dtype=torch.float32).eval()
    state_dict, network_alphas = StableDiffusionPipeline.lora_state_dict(lora_path)
    unet.load_lora_adapter(state_dict, prefix="unet", network_alphas=network_alphas, adapter_name=adapter)
    wrapped = sorted(name[: -len(".lora_A")] for name, _ in unet.named_modules() if name.endswith(".lora_A"))
    return unet, wrapped


def main():
    args = parse_args()
    shifts, lora, applied, default_summary = make_artifacts(args)

    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizerFast

    tokenizer = CLIPTokenizerFast.from_pretrained(os.path.join(args.model, "tokenizer"))
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(args.model, "text_encoder"), dtype=torch.float32).eval()
    metas = shift_metadata(shifts)
    erased = [c for m in metas for c in m["concepts"]]
    protected = list(dict.fromkeys(p for m in metas for p in m["protected"] + ((m.get("uce") or {}).get("preserve") or [])))
    protected = [p for p in protected if p != "" and p not in erased]
    blank_check = decoupled(metas)
    prompts = [""] + erased + protected + (args.prompt or ["a green square"])
    tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = text_encoder(tokens.input_ids)[0]  # [P, L, 64]

    unet_dir = os.path.join(args.model, "unet")
    base = UNet2DConditionModel.from_pretrained(unet_dir, torch_dtype=torch.float32).eval()
    baked = UNet2DConditionModel.from_pretrained(os.path.join(applied, "unet"), torch_dtype=torch.float32).eval()
    cfg = base.config
    g = torch.Generator().manual_seed(args.seed)
    sample = torch.randn(1, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=g)
    timesteps = [int(t) for t in args.timesteps.split(",")]

    def predict(unet):  # -> {(prompt index, t): eps [C, H, W]}
        out = {}
        with torch.no_grad():
            for t in timesteps:
                eps = unet(sample.expand(len(prompts), -1, -1, -1), t, encoder_hidden_states=hidden).sample
                for i in range(len(prompts)):
                    out[(i, t)] = eps[i]
        return out

    def rel(a, b):  # max|a - b| / max|b|
        return max(float((a[k] - b[k]).abs().max() / b[k].abs().max()) for k in b)

    failures = []
    default_errors = []
    kohya_problems, kohya_modules = check_kohya_keys(lora["kohya"], base, args.variant)
    failures += [f"kohya names: {p}" for p in kohya_problems]

    ref_base, ref_baked = predict(base), predict(baked)
    shifted_modules = sorted(n for n, _ in base.named_modules() if shifted_module(n, args.variant))
    results = {}
    for fmt in ("diffusers", "kohya", "default"):
        if fmt == "kohya" and args.variant == "full" and args.method == "sepme":
            # diffusers' kohya converter (0.42) refuses the `diff_b` bias keys that A1111 and ComfyUI
            # read; a full shift's bias change loads in diffusers from the diffusers-format file.
            print("kohya file: not loaded in diffusers (its converter refuses `diff_b` keys); names checked only")
            continue
        unet, wrapped = load_lora_unet(unet_dir, lora[fmt], f"sepme_{fmt}")
        if wrapped != shifted_modules:
            failures.append(f"{fmt}: adapter wraps {len(wrapped)} modules {wrapped}, expected {shifted_modules}")
        results[fmt] = predict(unet)

    print()
    with safe_open(os.path.join(unet_dir, "diffusion_pytorch_model.safetensors"), "pt") as f:
        stored = f.get_slice(next(iter(f.keys()))).get_dtype()
    print(f"model {args.model} (stored {stored}); shifts: {', '.join(os.path.basename(s) for s in shifts)}")
    print(f"sample [1, {cfg.in_channels}, {cfg.sample_size}, {cfg.sample_size}] seed {args.seed}; timesteps {timesteps}; "
          f"kohya file: {kohya_modules} modules, names {'OK' if not kohya_problems else 'WRONG'}")
    header = (f"{'prompt':<24} {'kind':<9} {'base vs apply':>14} {'diffusers vs apply':>19} {'kohya vs apply':>15} "
              f"{'diffusers vs base':>18} {'default vs apply':>17}")
    print(header)
    print("-" * len(header))
    for i, prompt in enumerate(prompts):
        kind = "blank" if prompt == "" else "erased" if prompt in erased else "protected" if prompt in protected else "other"
        keys = [(i, t) for t in timesteps]
        pick = lambda d: {k: d[k] for k in keys}
        moved = rel(pick(ref_baked), pick(ref_base))
        errs = {fmt: rel(pick(results[fmt]), pick(ref_baked)) for fmt in results}
        blank_err = rel(pick(results["diffusers"]), pick(ref_base))
        print(f"{repr(prompt):<24} {kind:<9} {moved:>14.3e} {errs['diffusers']:>19.3e} {errs.get('kohya', float('nan')):>15.3e} "
              f"{blank_err:>18.3e} {errs['default']:>17.3e}")
        default_errors.append(errs.pop("default"))
        for fmt, e in errs.items():
            if not e <= MATCH_TOLERANCE:
                failures.append(f"{fmt} LoRA vs sepme apply on {prompt!r}: {e:.3e} > {MATCH_TOLERANCE:g}")
        if kind == "erased":
            for fmt in errs:
                d = rel(pick(results[fmt]), pick(ref_base))
                if not d > NON_VACUOUS_FACTOR * MATCH_TOLERANCE:
                    failures.append(f"{fmt} LoRA barely changes erased prompt {prompt!r}: {d:.3e} <= "
                                    f"{NON_VACUOUS_FACTOR * MATCH_TOLERANCE:g}; the check would be vacuous")
        if kind == "blank" and blank_check:
            for fmt in errs:
                d = rel(pick(results[fmt]), pick(ref_base))
                if not d <= BLANK_TOLERANCE:
                    failures.append(f"{fmt} LoRA changes the blank prompt: {d:.3e} > {BLANK_TOLERANCE:g}")
    print("(figures: max over timesteps of max|a - b| / max|b|; diffusers and kohya: the exact export, --rank full; "
          "default: export-lora's default rank rule)")
    print(f"default export: {default_summary}; its largest error vs apply over prompts {max(default_errors):.3e}")
    print(f"criteria: exact LoRA vs apply <= {MATCH_TOLERANCE:g}; erased prompts: LoRA vs base > "
          f"{NON_VACUOUS_FACTOR * MATCH_TOLERANCE:g}; blank prompt: LoRA vs base <= {BLANK_TOLERANCE:g}"
          + ("" if blank_check else " (not checked: a dense or baseline shift acts on every prompt)"))
    if failures:
        print("\nFAILED:")
        for f in failures:
            print("  " + f)
        return 1
    print("\nPASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
