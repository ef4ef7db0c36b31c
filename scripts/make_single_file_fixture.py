#!/usr/bin/env python3
"""Writes the single-file (original CompVis / A1111 key names) checkpoint fixtures for
Tests/DiffusionTests/SingleFileTests.swift and checks them against diffusers' own converters.

Usage:
  python3 scripts/make_single_file_fixture.py      # (re)writes Tests/DiffusionTests/Resources/single-file/*

What it does:
  1. Builds tiny random-weight diffusers / transformers models (UNet2DConditionModel, AutoencoderKL,
     CLIPTextModel) with the SD1.x block structure but narrow channels, and replaces every tensor with
     distinct random values that are exactly representable in float16 (so an fp16 copy of the single
     file converts back bit for bit, and a swapped pair of same-shaped tensors cannot go unnoticed).
  2. Writes their diffusers / transformers state dicts (fp32) as unet.safetensors, vae.safetensors,
     text_encoder.safetensors (text encoder keys with the `text_model.` prefix, as SD1.x diffusers
     folders store them), plus the configs in configs.json.
  3. Converts them with this script's own diffusers -> original mapping into ONE file
     tiny-sd1.safetensors (fp32) and tiny-sd1-fp16.safetensors (fp16 weights), adding what real SD1.x
     checkpoints carry besides the weights: model_ema.decay / model_ema.num_updates, the DDPM schedule
     buffers (betas, alphas_cumprod, ...) and cond_stage_model...position_ids.
  4. VERIFIES with diffusers.loaders.single_file_utils (convert_ldm_unet_checkpoint,
     convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint) that the single files map back to exactly
     the diffusers tensors (same key sets, torch.equal values). Fails loudly otherwise.
  5. For the real SD1.x layout (diffusers' default UNet2DConditionModel / AutoencoderKL, CLIP ViT-L/14
     text encoder; built on the meta device, no weights) writes the full original -> diffusers key table
     sd1-key-map.json, verified the same way with one distinct marker value per key.

Files (see the sizes printed at the end): unet / vae / text_encoder .safetensors, tiny-sd1.safetensors,
tiny-sd1-fp16.safetensors, configs.json, sd1-key-map.json.
"""
import json
import math
import os

import torch
from safetensors.torch import load_file, save_file
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)
from transformers import CLIPTextConfig, CLIPTextModel

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionTests", "Resources", "single-file")

UNET_CONFIG = dict(
    sample_size=8, in_channels=4, out_channels=4,
    block_out_channels=(8, 16), layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=8, norm_num_groups=4, attention_head_dim=4,
)
VAE_CONFIG = dict(
    in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=2, latent_channels=4,
    norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    sample_size=16,
)
CLIP_CONFIG = dict(
    hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, vocab_size=1000,
    max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_act="quick_gelu",
)

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."


# ---------------------------------------------------------------------------------------------------
# diffusers -> original key mapping (this script's own; the inverse of the Swift OriginalCheckpointKeyMap)

UNET_RESNET_RENAMES = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
                       ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]
VAE_RESNET_RENAMES = [("conv_shortcut", "nin_shortcut")]
VAE_ATTENTION_RENAMES = [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")]


def unet_prefix_pairs(down_attn, up_attn, layers):
    """(diffusers prefix, original prefix, kind) for the UNet; kind in {plain, resnet}."""
    pairs = [("time_embedding.linear_1", "time_embed.0", "plain"), ("time_embedding.linear_2", "time_embed.2", "plain"),
             ("conv_in", "input_blocks.0.0", "plain"), ("conv_norm_out", "out.0", "plain"), ("conv_out", "out.2", "plain")]
    index = 1
    for i, has_attn in enumerate(down_attn):
        for j in range(layers):
            pairs.append((f"down_blocks.{i}.resnets.{j}", f"input_blocks.{index}.0", "resnet"))
            if has_attn:
                pairs.append((f"down_blocks.{i}.attentions.{j}", f"input_blocks.{index}.1", "plain"))
            index += 1
        if i < len(down_attn) - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{index}.0.op", "plain"))
            index += 1
    pairs += [("mid_block.resnets.0", "middle_block.0", "resnet"), ("mid_block.attentions.0", "middle_block.1", "plain"),
              ("mid_block.resnets.1", "middle_block.2", "resnet")]
    for i, has_attn in enumerate(up_attn):
        for j in range(layers + 1):
            index = i * (layers + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}", f"output_blocks.{index}.0", "resnet"))
            if has_attn:
                pairs.append((f"up_blocks.{i}.attentions.{j}", f"output_blocks.{index}.1", "plain"))
        if i < len(up_attn) - 1:
            last = i * (layers + 1) + layers
            pairs.append((f"up_blocks.{i}.upsamplers.0.conv", f"output_blocks.{last}.{2 if has_attn else 1}.conv", "plain"))
    return pairs


def vae_prefix_pairs(blocks, layers):
    pairs = [(f"{p}", f"{p}", "plain") for p in ("encoder.conv_in", "encoder.conv_out", "decoder.conv_in",
                                                  "decoder.conv_out", "quant_conv", "post_quant_conv")]
    pairs += [("encoder.conv_norm_out", "encoder.norm_out", "plain"), ("decoder.conv_norm_out", "decoder.norm_out", "plain")]
    for side in ("encoder", "decoder"):
        pairs += [(f"{side}.mid_block.resnets.0", f"{side}.mid.block_1", "resnet"),
                  (f"{side}.mid_block.resnets.1", f"{side}.mid.block_2", "resnet"),
                  (f"{side}.mid_block.attentions.0", f"{side}.mid.attn_1", "attention")]
    for i in range(blocks):
        for j in range(layers):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", "resnet"))
        if i < blocks - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv", "plain"))
    for i in range(blocks):
        original = blocks - 1 - i  # the decoder's up blocks are stored in reverse order
        for j in range(layers + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{original}.block.{j}", "resnet"))
        if i < blocks - 1:
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{original}.upsample.conv", "plain"))
    return pairs


def rename_inner(rest, renames):
    for new, old in renames:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    return rest


def to_original(key, pairs):
    """Returns (original key, needs [C, C, 1, 1]) for a diffusers key; raises if no prefix claims it."""
    best = None
    for diffusers, original, kind in pairs:
        if key.startswith(diffusers + ".") and (best is None or len(diffusers) > len(best[0])):
            best = (diffusers, original, kind)
    if best is None:
        raise SystemExit(f"no original name for diffusers key {key}")
    diffusers, original, kind = best
    rest = key[len(diffusers) + 1:]
    conv = False
    if kind == "resnet":
        rest = rename_inner(rest, UNET_RESNET_RENAMES if original.startswith(("input_blocks", "middle_block", "output_blocks")) else VAE_RESNET_RENAMES)
    elif kind == "attention":
        rest = rename_inner(rest, VAE_ATTENTION_RENAMES)
        conv = rest in ("q.weight", "k.weight", "v.weight", "proj_out.weight")
    return original + "." + rest, conv


def has_attention(block_types):
    return [t.startswith("CrossAttn") for t in block_types]


# ---------------------------------------------------------------------------------------------------

def schedule_buffers(steps=1000, beta_start=0.00085, beta_end=0.012):
    """The DDPM buffers a CompVis LatentDiffusion checkpoint stores (ldm/models/diffusion/ddpm.py)."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float64) ** 2
    alphas = 1.0 - betas
    cumprod = torch.cumprod(alphas, 0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), cumprod[:-1]])
    post_var = betas * (1.0 - prev) / (1.0 - cumprod)
    b = {
        "betas": betas, "alphas_cumprod": cumprod, "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": cumprod.sqrt(), "sqrt_one_minus_alphas_cumprod": (1.0 - cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - cumprod).log(), "sqrt_recip_alphas_cumprod": (1.0 / cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / cumprod - 1).sqrt(), "posterior_variance": post_var,
        "posterior_log_variance_clipped": torch.log(torch.clamp(post_var, min=1e-20)),
        "posterior_mean_coef1": betas * prev.sqrt() / (1.0 - cumprod),
        "posterior_mean_coef2": (1.0 - prev) * alphas.sqrt() / (1.0 - cumprod),
    }
    return {k: v.float() for k, v in b.items()}


def randomized(state, gen):
    """Every tensor replaced by distinct random values that float16 represents exactly."""
    return {k: (torch.randn(v.shape, generator=gen) * 0.5).half().float().contiguous() for k, v in state.items()}


def build_tiny():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20240611)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    vae = AutoencoderKL(**VAE_CONFIG)
    clip = CLIPTextModel(CLIPTextConfig(**CLIP_CONFIG))
    clip_state = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in clip.state_dict().items()
                  if not k.endswith("position_ids")}
    return (unet, randomized(unet.state_dict(), gen), vae, randomized(vae.state_dict(), gen), clip,
            randomized(clip_state, gen))


def to_single_file(unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, max_positions):
    up = unet_prefix_pairs(has_attention(unet_cfg["down_block_types"]), has_attention(unet_cfg["up_block_types"]),
                           unet_cfg["layers_per_block"])
    vp = vae_prefix_pairs(len(vae_cfg["block_out_channels"]), vae_cfg["layers_per_block"])
    single = {}
    for key, value in unet_sd.items():
        name, _ = to_original(key, up)
        single[UNET_PREFIX + name] = value
    for key, value in vae_sd.items():
        name, conv = to_original(key, vp)
        single[VAE_PREFIX + name] = value[:, :, None, None].contiguous() if conv else value
    for key, value in clip_sd.items():
        single[CLIP_PREFIX + key] = value
    single[CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(max_positions, dtype=torch.int64)[None]
    single["model_ema.decay"] = torch.tensor(0.9999, dtype=torch.float32)
    single["model_ema.num_updates"] = torch.tensor(470000, dtype=torch.int32)
    single.update(schedule_buffers())
    return single


def check_against_diffusers(single, unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, label):
    """diffusers' converters must map the single file back to exactly the diffusers tensors."""
    def same(name, converted, expected):
        if set(converted) != set(expected):
            raise SystemExit(f"{label} {name}: key sets differ; only converted: {sorted(set(converted) - set(expected))[:5]}"
                             f" only diffusers: {sorted(set(expected) - set(converted))[:5]}")
        for k, v in expected.items():
            c = converted[k]
            if c.shape != v.shape or not torch.equal(c.to(v.dtype), v):
                raise SystemExit(f"{label} {name}: tensor {k} differs ({tuple(c.shape)} vs {tuple(v.shape)})")
    same("unet", convert_ldm_unet_checkpoint(dict(single), unet_cfg), unet_sd)
    same("vae", convert_ldm_vae_checkpoint(dict(single), vae_cfg), vae_sd)
    clip = {k: v for k, v in convert_ldm_clip_checkpoint(dict(single)).items() if not k.endswith("position_ids")}
    same("text encoder", clip, clip_sd)
    print(f"{label}: diffusers' converters reproduce all {len(unet_sd)} + {len(vae_sd)} + {len(clip_sd)} tensors")


def sd1_key_map():
    """Original -> diffusers key table of the real SD1.x layout, verified with diffusers' converters."""
    with torch.device("meta"):
        unet = UNet2DConditionModel()  # diffusers' defaults are the SD1.x UNet
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
        clip = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                            num_attention_heads=12, max_position_embeddings=77))
    unet_cfg, vae_cfg = dict(unet.config), dict(vae.config)
    # One distinct marker value per key; VAE attention weights get 2-D markers (converters slice [:, :, 0, 0]).
    counter = iter(range(1, 10 ** 7))
    def markers(state):
        def vae_attention_weight(k):
            return k.startswith(("encoder.", "decoder.")) and ".attentions." in k and k.endswith(
                ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight"))
        return {k: torch.full((1, 1) if vae_attention_weight(k) else (1,), float(next(counter))) for k in state}
    unet_sd = markers(unet.state_dict())
    vae_sd = markers(vae.state_dict())
    clip_sd = markers({k if k.startswith("text_model.") else "text_model." + k: None for k in clip.state_dict()
                       if not k.endswith("position_ids")})
    single = to_single_file(unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, 77)
    check_against_diffusers(single, unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, "SD1.x layout")
    back = {}
    for sub, prefix, state in (("unet", UNET_PREFIX, unet_sd), ("vae", VAE_PREFIX, vae_sd),
                               ("text_encoder", CLIP_PREFIX, clip_sd)):
        by_value = {float(v.flatten()[0]): k for k, v in state.items()}
        # [original key (prefix removed), diffusers key, stored as [C, C, 1, 1] for a [C, C] parameter]
        back[sub] = sorted([k[len(prefix):], by_value[float(v.flatten()[0])], v.dim() == 4]
                           for k, v in single.items() if k.startswith(prefix) and v.dtype == torch.float32)
    layout = {
        "unet": {"down_attention": has_attention(unet_cfg["down_block_types"]),
                 "up_attention": has_attention(unet_cfg["up_block_types"]),
                 "layers_per_block": unet_cfg["layers_per_block"]},
        "vae": {"blocks": len(vae_cfg["block_out_channels"]), "layers_per_block": vae_cfg["layers_per_block"]},
        "dropped": sorted(k for k, v in single.items() if not k.startswith((UNET_PREFIX, VAE_PREFIX, CLIP_PREFIX))
                          or k.endswith("position_ids")),
    }
    return {"layout": layout, **back}


def main():
    os.makedirs(OUT, exist_ok=True)
    unet, unet_sd, vae, vae_sd, clip, clip_sd = build_tiny()
    unet_cfg, vae_cfg = dict(unet.config), dict(vae.config)
    save_file(unet_sd, os.path.join(OUT, "unet.safetensors"))
    save_file(vae_sd, os.path.join(OUT, "vae.safetensors"))
    save_file(clip_sd, os.path.join(OUT, "text_encoder.safetensors"))

    single = to_single_file(unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, CLIP_CONFIG["max_position_embeddings"])
    check_against_diffusers(single, unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, "tiny-sd1 fp32")
    save_file(single, os.path.join(OUT, "tiny-sd1.safetensors"), metadata={"format": "pt"})
    # fp16 weights, as most shared SD1.x single files are; schedule buffers and ints keep their dtype.
    half = {k: v.half() if v.dtype == torch.float32 and not k in schedule_buffers() else v for k, v in single.items()}
    check_against_diffusers({k: v.float() if v.dtype == torch.float16 else v for k, v in half.items()},
                            unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, "tiny-sd1 fp16")
    save_file(half, os.path.join(OUT, "tiny-sd1-fp16.safetensors"), metadata={"format": "pt"})
    # Round trip through the written files.
    reread = load_file(os.path.join(OUT, "tiny-sd1.safetensors"))
    check_against_diffusers(reread, unet_cfg, unet_sd, vae_cfg, vae_sd, clip_sd, "tiny-sd1 fp32 (re-read)")

    def plain(cfg):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items() if not k.startswith("_")}
    configs = {"unet": plain(unet_cfg), "vae": plain(vae_cfg), "text_encoder": CLIP_CONFIG,
               "unet_layout": {"down_attention": has_attention(unet_cfg["down_block_types"]),
                               "up_attention": has_attention(unet_cfg["up_block_types"]),
                               "layers_per_block": unet_cfg["layers_per_block"]},
               "vae_layout": {"blocks": len(vae_cfg["block_out_channels"]), "layers_per_block": vae_cfg["layers_per_block"]}}
    with open(os.path.join(OUT, "configs.json"), "w") as f:
        json.dump(configs, f, indent=1, sort_keys=True, default=str)
    with open(os.path.join(OUT, "sd1-key-map.json"), "w") as f:
        json.dump(sd1_key_map(), f, indent=0, sort_keys=True)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
