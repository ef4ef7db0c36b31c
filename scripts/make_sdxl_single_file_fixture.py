#!/usr/bin/env python3
"""The tiny SDXL folder (Tests/DiffusionTests/Resources/pipeline-sdxl/tiny-sdxl, made by
scripts/make_sdxl_pipeline_fixtures.py) as ONE single-file checkpoint in Stability's original (sgm)
key layout, as community SDXL models are shared, checked against diffusers' own converters and
single-file loader.

Writes Tests/DiffusionTests/Resources/pipeline-sdxl/tiny-sdxl-original.safetensors (fp16, as the
folder's weights are; fp16 values, so the conversion is exact):
  model.diffusion_model.*                the UNet (CompVis block names, as SD 1.x / 2.x; the "text_time"
                                         addition embedding as label_emb.0.0 / label_emb.0.2)
  first_stage_model.*                    the VAE (attention q/k/v/proj_out as 1x1 convolutions)
  conditioner.embedders.0.transformer.*  CLIP ViT-L in transformers' layout (text_model.*, with the
                                         position_ids buffer that transformers 4.x saved)
  conditioner.embedders.1.model.*        OpenCLIP bigG: token_embedding.weight, positional_embedding,
                                         ln_final, transformer.resblocks.N with attn.in_proj_weight
                                         [3D, D] / in_proj_bias [3D] (query, key, value stacked),
                                         attn.out_proj, ln_1, ln_2, mlp.c_fc, mlp.c_proj; text_projection
                                         [D, P] applied as x @ P (diffusers' Linear weight transposed);
                                         logit_scale (contrastive head, unused)
  denoiser.sigmas                        sgm's DiscreteDenoiser sigma table (unused: the scheduler
                                         recomputes it from its configuration)

The mapping is this script's own (diffusers -> original, the reverse of sepme's SDXLCheckpointKeyMap);
the file is verified with diffusers.loaders.single_file_utils (convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint with SDXL's
prefix), which must give back exactly the folder's tensors, and with
StableDiffusionXLPipeline.from_single_file(config=the folder), whose four models must hold exactly
the folder's weights (its second encoder given, converted from the file by convert_open_clip_checkpoint:
see verify_from_single_file).

Also writes tiny-sdxl-original-outputs.safetensors: diffusers' outputs of the single-file pipeline
(fp32) on fixed inputs, so the Swift test checks the loaded models against the reference as well as
against the folder: "prompt_embeds" [1, 77, 64] and "pooled" [1, 32] (encode_prompt of PROMPT, the
penultimate states of both encoders concatenated and the projected pooled output), and "eps"
[1, 4, 8, 8] (the UNet on "latents" [1, 4, 8, 8] at timestep 500 with those embeddings and time ids
(64, 64, 0, 0, 64, 64)).

Usage: scripts/.venv/bin/python scripts/make_sdxl_single_file_fixture.py (after make_sdxl_pipeline_fixtures.py)
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from diffusers import AutoencoderKL, StableDiffusionXLPipeline, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                 convert_ldm_vae_checkpoint, convert_open_clip_checkpoint)
from transformers import CLIPTextModel, CLIPTextModelWithProjection

sys.path.insert(0, os.path.dirname(__file__))
from make_single_file_fixture import (UNET_PREFIX, VAE_PREFIX, has_attention, to_original,  # noqa: E402
                                      unet_prefix_pairs, vae_prefix_pairs)
from make_sd2_single_file_fixture import LAYER_RENAMES, same  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
DIR = os.path.join(ROOT, "Tests", "DiffusionTests", "Resources", "pipeline-sdxl")
FOLDER = os.path.join(DIR, "tiny-sdxl")
OUT = os.path.join(DIR, "tiny-sdxl-original.safetensors")
OUTPUTS = os.path.join(DIR, "tiny-sdxl-original-outputs.safetensors")
CLIP_PREFIX = "conditioner.embedders.0.transformer."
OPENCLIP_PREFIX = "conditioner.embedders.1.model."
PROMPT = "a striped red circle"
# diffusers' add_embedding = SGM's label_emb.0 (Sequential(Linear, SiLU, Linear)).
TEXT_TIME_PAIRS = [("add_embedding.linear_1", "label_emb.0.0", "plain"), ("add_embedding.linear_2", "label_emb.0.2", "plain")]


def with_text_model(state):
    """transformers >= 5.6 saves CLIPTextModel without the text_model. level; SDXL files have it."""
    return {k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k: v for k, v in state.items()
            if not k.endswith("position_ids")}


def open_clip_sdxl_layout(text2_sd, layers):
    out = {
        "token_embedding.weight": text2_sd["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": text2_sd["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": text2_sd["text_model.final_layer_norm.weight"],
        "ln_final.bias": text2_sd["text_model.final_layer_norm.bias"],
        # OpenCLIP computes x @ text_projection; transformers' bias-free Linear computes x @ W^T.
        "text_projection": text2_sd["text_projection.weight"].t().contiguous(),
        "logit_scale": torch.tensor(4.6052),
    }
    for i in range(layers):
        src = f"text_model.encoder.layers.{i}."
        dst = f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + "attn.in_proj_" + kind] = torch.cat(
                [text2_sd[src + f"self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]).contiguous()
            for new, old in LAYER_RENAMES.items():
                out[dst + f"{old}.{kind}"] = text2_sd[src + f"{new}.{kind}"]
    return {OPENCLIP_PREFIX + k: v for k, v in out.items()}


def single_file(unet, vae, text, text2):
    up = unet_prefix_pairs(has_attention(unet.config.down_block_types), has_attention(unet.config.up_block_types),
                           unet.config.layers_per_block) + TEXT_TIME_PAIRS
    vp = vae_prefix_pairs(len(vae.config.block_out_channels), vae.config.layers_per_block)
    single = {}
    for key, value in unet.state_dict().items():
        single[UNET_PREFIX + to_original(key, up)[0]] = value
    for key, value in vae.state_dict().items():
        name, conv = to_original(key, vp)
        single[VAE_PREFIX + name] = value[:, :, None, None].contiguous() if conv else value
    for key, value in with_text_model(text.state_dict()).items():
        single[CLIP_PREFIX + key] = value
    positions = text.config.max_position_embeddings
    single[CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(positions, dtype=torch.int64)[None]
    single.update(open_clip_sdxl_layout(with_text_model(text2.state_dict()), text2.config.num_hidden_layers))
    # sgm's DiscreteDenoiser: sigma_t = sqrt((1 - alphabar_t) / alphabar_t) of the scaled-linear schedule.
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphabar = torch.cumprod(1 - betas, 0)
    single["denoiser.sigmas"] = ((1 - alphabar) / alphabar).sqrt().float()
    return single


def verify_converters(single, unet, vae, text, text2):
    same("unet", convert_ldm_unet_checkpoint(dict(single), dict(unet.config)), unet.state_dict())
    same("vae", convert_ldm_vae_checkpoint(dict(single), dict(vae.config)), vae.state_dict())
    clip = {k: v for k, v in convert_ldm_clip_checkpoint(dict(single)).items() if not k.endswith("position_ids")}
    same("text encoder", clip, with_text_model(text.state_dict()))
    open_clip = convert_open_clip_checkpoint(text2, dict(single), prefix=OPENCLIP_PREFIX)
    same("text encoder 2", open_clip, with_text_model(text2.state_dict()))


def verify_from_single_file(path, folder_models, text2_config):
    # At these tiny sizes both encoders are 32 wide, and from_single_file's encoder dispatch (by the
    # width of the CLIP ViT-L position embedding) would fill text_encoder_2 from the first encoder's
    # keys; it is built here from the file's OpenCLIP keys with diffusers' converter instead.
    file = load_file(path)
    text2 = CLIPTextModelWithProjection(text2_config).eval()
    text2.load_state_dict({k: v.float() for k, v in convert_open_clip_checkpoint(text2, file, prefix=OPENCLIP_PREFIX).items()},
                          strict=True)
    pipe = StableDiffusionXLPipeline.from_single_file(path, config=FOLDER, local_files_only=True,
                                                      torch_dtype=torch.float32, text_encoder_2=text2)
    for name, model in folder_models.items():
        loaded = getattr(pipe, name).state_dict()
        expected = model.state_dict()
        if set(loaded) != set(expected):
            raise SystemExit(f"from_single_file {name}: key sets differ: {sorted(set(loaded) ^ set(expected))[:5]}")
        for k, v in expected.items():
            if not torch.equal(loaded[k].float(), v.float()):
                raise SystemExit(f"from_single_file {name}: {k} differs from the folder's")
    return pipe


def outputs(pipe):
    with torch.no_grad():
        embeds, _, pooled, _ = pipe.encode_prompt(PROMPT, do_classifier_free_guidance=False)
        latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(7))
        time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])
        eps = pipe.unet(latents, 500, encoder_hidden_states=embeds,
                        added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
    return {"prompt_embeds": embeds.contiguous(), "pooled": pooled.contiguous(), "latents": latents, "eps": eps.contiguous()}


def main():
    unet = UNet2DConditionModel.from_pretrained(os.path.join(FOLDER, "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(FOLDER, "vae")).float().eval()
    text = CLIPTextModel.from_pretrained(os.path.join(FOLDER, "text_encoder")).float().eval()
    text2 = CLIPTextModelWithProjection.from_pretrained(os.path.join(FOLDER, "text_encoder_2")).float().eval()
    single = single_file(unet, vae, text, text2)
    verify_converters(single, unet, vae, text, text2)
    half = {k: (v.half() if v.is_floating_point() and v.dim() > 0 else v).contiguous() for k, v in single.items()}
    save_file(half, OUT)
    print(f"diffusers' converters reproduce every tensor of the folder; {OUT}: {os.path.getsize(OUT)} bytes, "
          f"{len(half)} tensors")
    pipe = verify_from_single_file(OUT, {"unet": unet, "vae": vae, "text_encoder": text, "text_encoder_2": text2},
                                   text2.config)
    print("StableDiffusionXLPipeline.from_single_file loads exactly the folder's weights")
    save_file(outputs(pipe.to(torch.float32)), OUTPUTS)
    print(OUTPUTS, os.path.getsize(OUTPUTS), "bytes")


if __name__ == "__main__":
    main()
