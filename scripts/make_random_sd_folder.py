#!/usr/bin/env python3
"""A full-size Stable Diffusion folder with RANDOM weights, built from config objects (no hub access) with
PyTorch's default initialisation, stored in fp16. For measuring time and memory (scripts/bench_sdxl_full.sh,
`sepme bench generate --model`), never for images: random weights draw noise.

- sdxl: the architecture of stabilityai/stable-diffusion-xl-base-1.0 (UNet block_out_channels 320/640/1280,
  transformer_layers_per_block 1/2/10, attention_head_dim 5/10/20, cross_attention_dim 2048,
  addition_time_embed_dim 256, projection_class_embeddings_input_dim 2816; CLIP ViT-L and OpenCLIP bigG
  text encoders; the SDXL VAE with scaling_factor 0.13025; its Euler scheduler).
- sd14: the architecture of CompVis/stable-diffusion-v1-4 (UNet block_out_channels 320/640/1280/1280,
  attention_head_dim 8, cross_attention_dim 768; CLIP ViT-L; the SD VAE with scaling_factor 0.18215), with a
  DDIM scheduler of its noise schedule.

Usage: scripts/.venv/bin/python scripts/make_random_sd_folder.py sdxl|sd14 OUT_DIR
"""
import json
import os
import sys

import torch
from diffusers import AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
VOCAB = os.path.join(ROOT, "Sources", "CLIP", "Resources", "clip-vit-large-patch14")

UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816, norm_num_groups=32)
VAE = dict(in_channels=3, out_channels=3, block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=1024,
           scaling_factor=0.13025, force_upcast=True)
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1,
              projection_dim=768)
SD14_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280),
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                 attention_head_dim=8, cross_attention_dim=768, norm_num_groups=32)
SD14_VAE = dict(VAE, sample_size=512, scaling_factor=0.18215, force_upcast=True)
BIG_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
             max_position_embeddings=77, hidden_act="gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1,
             projection_dim=1280)


def save(model, path):
    model.half().save_pretrained(path, safe_serialization=True)
    print("wrote", path, flush=True)


def scheduler_base():
    return dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type="epsilon",
                steps_offset=1)


def write_index(out, index):
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)


def make_sdxl(out):
    save(UNet2DConditionModel(**UNET), os.path.join(out, "unet"))
    save(AutoencoderKL(**VAE), os.path.join(out, "vae"))
    save(CLIPTextModel(CLIPTextConfig(**CLIP_L)), os.path.join(out, "text_encoder"))
    save(CLIPTextModelWithProjection(CLIPTextConfig(**BIG_G)), os.path.join(out, "text_encoder_2"))
    CLIPTokenizer.from_pretrained(VOCAB).save_pretrained(os.path.join(out, "tokenizer"))
    CLIPTokenizer.from_pretrained(VOCAB, pad_token="!").save_pretrained(os.path.join(out, "tokenizer_2"))
    EulerDiscreteScheduler(**scheduler_base(), interpolation_type="linear", timestep_spacing="leading",
                           use_karras_sigmas=False).save_pretrained(os.path.join(out, "scheduler"))
    write_index(out, {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1",
                      "force_zeros_for_empty_prompt": True, "feature_extractor": [None, None],
                      "image_encoder": [None, None], "scheduler": ["diffusers", "EulerDiscreteScheduler"],
                      "text_encoder": ["transformers", "CLIPTextModel"],
                      "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                      "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
                      "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})


def make_sd14(out):
    save(UNet2DConditionModel(**SD14_UNET), os.path.join(out, "unet"))
    save(AutoencoderKL(**SD14_VAE), os.path.join(out, "vae"))
    save(CLIPTextModel(CLIPTextConfig(**CLIP_L)), os.path.join(out, "text_encoder"))
    CLIPTokenizer.from_pretrained(VOCAB).save_pretrained(os.path.join(out, "tokenizer"))
    DDIMScheduler(**scheduler_base(), clip_sample=False, set_alpha_to_one=False).save_pretrained(
        os.path.join(out, "scheduler"))
    write_index(out, {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
                      "feature_extractor": [None, None], "safety_checker": [None, None],
                      "requires_safety_checker": False, "scheduler": ["diffusers", "DDIMScheduler"],
                      "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                      "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})


def main():
    makers = {"sdxl": make_sdxl, "sd14": make_sd14}
    if len(sys.argv) != 3 or sys.argv[1] not in makers:
        sys.exit(__doc__)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    makers[sys.argv[1]](out)
    print("done", out)


if __name__ == "__main__":
    main()
