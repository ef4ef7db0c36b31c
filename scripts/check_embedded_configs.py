#!/usr/bin/env python3
"""Checks the embedded configurations sepme reads single files with when no --config is given
(Sources/Diffusion/Resources/sdxl-base-1.0 and sd-2.1): diffusers and transformers build each
component from them on the meta device (no memory, no weights) and its parameter count must be that
of the published component of stabilityai/stable-diffusion-xl-base-1.0 or stabilityai/stable-diffusion-2-1;
each scheduler must load in diffusers with that model's schedule and prediction type. OpenCLIP's
tokenizer (pad "!") reading of two prompts is printed for the Swift test (EmbeddedConfigurationTests).

Usage: scripts/.venv/bin/python scripts/check_embedded_configs.py
"""
import os
import sys

import torch
from diffusers import AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
CONFIG = os.path.join(ROOT, "Sources", "Diffusion", "Resources", "sdxl-base-1.0")
SD21 = os.path.join(ROOT, "Sources", "Diffusion", "Resources", "sd-2.1")
VOCAB = os.path.join(ROOT, "Sources", "CLIP", "Resources", "clip-vit-large-patch14")

# Parameter counts of the SDXL base 1.0 components as published (diffusers' safetensors of each).
EXPECTED = {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840,
            "sd21 unet": 865_910_724, "sd21 vae": 83_653_863, "sd21 text_encoder": 340_387_840}


def main():
    with torch.device("meta"):
        models = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(os.path.join(CONFIG, "unet"))),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(os.path.join(CONFIG, "vae"))),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(os.path.join(CONFIG, "text_encoder"))),
            "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(os.path.join(CONFIG, "text_encoder_2"))),
            "sd21 unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(os.path.join(SD21, "unet"))),
            "sd21 vae": AutoencoderKL.from_config(AutoencoderKL.load_config(os.path.join(SD21, "vae"))),
            "sd21 text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(os.path.join(SD21, "text_encoder"))),
        }
    failed = False
    for name, model in models.items():
        count = sum(p.numel() for p in model.parameters())
        ok = count == EXPECTED[name]
        failed |= not ok
        print(f"{name}: {count} parameters ({'as published' if ok else f'EXPECTED {EXPECTED[name]}'})")
    scheduler = EulerDiscreteScheduler.from_config(EulerDiscreteScheduler.load_config(os.path.join(CONFIG, "scheduler")))
    c = scheduler.config
    ok = (c.beta_start, c.beta_end, c.beta_schedule, c.prediction_type, c.steps_offset, c.timestep_spacing) == (
        0.00085, 0.012, "scaled_linear", "epsilon", 1, "leading")
    failed |= not ok
    print(f"sdxl scheduler: {type(scheduler).__name__} {'as published' if ok else 'DIFFERS'}")
    sd21 = DDIMScheduler.from_config(DDIMScheduler.load_config(os.path.join(SD21, "scheduler"))).config
    ok = (sd21.beta_start, sd21.beta_end, sd21.beta_schedule, sd21.prediction_type, sd21.steps_offset) == (
        0.00085, 0.012, "scaled_linear", "v_prediction", 1)
    failed |= not ok
    print(f"sd21 scheduler: DDIMScheduler {'as published' if ok else 'DIFFERS'}")
    second = CLIPTokenizer.from_pretrained(VOCAB, pad_token="!")
    for prompt in ["Van Gogh, starry night!", "hello ! world"]:
        print(f"OpenCLIP tokenizer {prompt!r}: {second(prompt, padding='max_length', max_length=77).input_ids[:10]}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
