#!/usr/bin/env python3
"""The tiny SD 2.x folder (Tests/DiffusionTests/Resources/pipeline-sd2/tiny-sd2, made by
scripts/make_sd2_pipeline_fixtures.py) as ONE single-file checkpoint in Stability's original key
layout, checked against diffusers' own converters.

Writes Tests/DiffusionTests/Resources/pipeline-sd2/tiny-sd2-original.safetensors (fp16, as community
SD 2.x files usually are):
  model.diffusion_model.*   the UNet (CompVis names; linear proj_in / proj_out as SD 2.x stores them)
  first_stage_model.*       the VAE (attention q/k/v/proj_out as 1x1 convolutions)
  cond_stage_model.model.*  the text encoder in OpenCLIP's layout: token_embedding.weight,
                            positional_embedding, ln_final, transformer.resblocks.N with ln_1, ln_2,
                            attn.in_proj_weight [3D, D] / attn.in_proj_bias [3D] (query, key and value
                            stacked), attn.out_proj, mlp.c_fc, mlp.c_proj; plus what OpenCLIP towers carry
                            that SD 2.x does not use: one more resblock (SD 2.x conditions on the
                            penultimate layer, so diffusers' text encoder has one layer fewer), text_projection
                            and logit_scale
  betas, alphas_cumprod, ...  the DDPM schedule buffers of a LatentDiffusion checkpoint

The file is verified with diffusers.loaders.single_file_utils (convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_open_clip_checkpoint): they must give back exactly the folder's
tensors. Run after make_sd2_pipeline_fixtures.py.
"""
import os, sys

import torch
from safetensors.torch import save_file
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
                                                 convert_open_clip_checkpoint)
from transformers import CLIPTextModel

sys.path.insert(0, os.path.dirname(__file__))
from make_single_file_fixture import (UNET_PREFIX, VAE_PREFIX, has_attention, schedule_buffers, to_original,  # noqa: E402
                                      unet_prefix_pairs, vae_prefix_pairs)

ROOT = os.path.join(os.path.dirname(__file__), "..")
DIR = os.path.join(ROOT, "Tests", "DiffusionTests", "Resources", "pipeline-sd2")
FOLDER = os.path.join(DIR, "tiny-sd2")
OUT = os.path.join(DIR, "tiny-sd2-original.safetensors")
OPENCLIP_PREFIX = "cond_stage_model.model."
# diffusers name -> OpenCLIP name inside one encoder layer (the fused q/k/v handled apart).
LAYER_RENAMES = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
                 "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}


def open_clip_layout(text_sd, layers, gen):
    out = {
        "token_embedding.weight": text_sd["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": text_sd["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": text_sd["text_model.final_layer_norm.weight"],
        "ln_final.bias": text_sd["text_model.final_layer_norm.bias"],
    }
    for i in range(layers):
        src = f"text_model.encoder.layers.{i}."
        dst = f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + "attn.in_proj_" + kind] = torch.cat(
                [text_sd[src + f"self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]).contiguous()
            for new, old in LAYER_RENAMES.items():
                out[dst + f"{old}.{kind}"] = text_sd[src + f"{new}.{kind}"]
    # The final OpenCLIP resblock SD 2.x skips: random, same shapes as layer 0.
    last = f"transformer.resblocks.{layers}."
    for key in [k for k in out if k.startswith("transformer.resblocks.0.")]:
        value = out[key]
        out[last + key[len("transformer.resblocks.0."):]] = (torch.randn(value.shape, generator=gen) * 0.1).half().float()
    width = text_sd["text_model.final_layer_norm.weight"].shape[0]
    out["text_projection"] = (torch.randn((width, 16), generator=gen) * 0.1).half().float()
    out["logit_scale"] = torch.tensor(4.6052)
    return {OPENCLIP_PREFIX + k: v for k, v in out.items()}


def same(name, converted, expected):
    if set(converted) != set(expected):
        raise SystemExit(f"{name}: key sets differ; only converted: {sorted(set(converted) - set(expected))[:5]}"
                         f" only diffusers: {sorted(set(expected) - set(converted))[:5]}")
    for k, v in expected.items():
        c = converted[k]
        if c.shape != v.shape or not torch.equal(c.to(v.dtype), v):
            raise SystemExit(f"{name}: tensor {k} differs ({tuple(c.shape)} vs {tuple(v.shape)})")


def main():
    gen = torch.Generator().manual_seed(20261202)
    unet = UNet2DConditionModel.from_pretrained(os.path.join(FOLDER, "unet")).float()
    vae = AutoencoderKL.from_pretrained(os.path.join(FOLDER, "vae")).float()
    text = CLIPTextModel.from_pretrained(os.path.join(FOLDER, "text_encoder")).float()
    unet_sd, vae_sd = unet.state_dict(), vae.state_dict()
    text_sd = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in text.state_dict().items()
               if not k.endswith("position_ids")}
    layers = text.config.num_hidden_layers

    up = unet_prefix_pairs(has_attention(unet.config.down_block_types), has_attention(unet.config.up_block_types),
                           unet.config.layers_per_block)
    vp = vae_prefix_pairs(len(vae.config.block_out_channels), vae.config.layers_per_block)
    single = {}
    for key, value in unet_sd.items():
        single[UNET_PREFIX + to_original(key, up)[0]] = value
    for key, value in vae_sd.items():
        name, conv = to_original(key, vp)
        single[VAE_PREFIX + name] = value[:, :, None, None].contiguous() if conv else value
    single.update(open_clip_layout(text_sd, layers, gen))
    single.update(schedule_buffers())

    # diffusers' converters must give back the folder's tensors exactly.
    same("unet", convert_ldm_unet_checkpoint(dict(single), dict(unet.config)), unet_sd)
    same("vae", convert_ldm_vae_checkpoint(dict(single), dict(vae.config)), vae_sd)
    converted = convert_open_clip_checkpoint(text, dict(single))
    extra = f"text_model.encoder.layers.{layers}."  # diffusers ignores only resblocks.23 by name
    same("text encoder", {k: v for k, v in converted.items() if not k.startswith(extra) and not k.endswith("position_ids")},
         text_sd)
    print(f"diffusers' converters reproduce all {len(unet_sd)} + {len(vae_sd)} + {len(text_sd)} tensors")

    half = {k: (v.half() if v.is_floating_point() and v.dim() > 0 else v).contiguous() for k, v in single.items()}
    save_file(half, OUT)
    print(OUT, os.path.getsize(OUT), "bytes,", len(half), "tensors")


if __name__ == "__main__":
    main()
