#!/usr/bin/env python3
"""A tiny random-weight Stable Diffusion XL folder and diffusers' text-to-image runs on it.

The folder has the architecture of stabilityai/stable-diffusion-xl-base-1.0 at toy sizes, built from
diffusers / transformers config objects (no hub access):
  text_encoder    transformers CLIPTextModel as SDXL's CLIP ViT-L: quick_gelu, bos/eos/pad 0/2/1
  text_encoder_2  CLIPTextModelWithProjection as SDXL's OpenCLIP bigG: gelu, eos_token_id 2, a
                  bias-free text_projection to projection_dim
  tokenizer       the small CLIP BPE of CLIPTests (pads with <|endoftext|>)
  tokenizer_2     the same vocabulary padding with "!" (id 0), as SDXL's second tokenizer
  unet            a plain first level, then cross-attention with transformer_layers_per_block (1, 2),
                  linear projections, cross_attention_dim = 32 + 32 (both encoders),
                  addition_embed_type "text_time" (addition_time_embed_dim 8, projection input
                  32 + 6 * 8)
  vae             AutoencoderKL with SDXL's scaling_factor 0.13025 and force_upcast true
  scheduler       EulerDiscreteScheduler with the keys of sdxl-base-1.0/scheduler/scheduler_config.json
  model_index     force_zeros_for_empty_prompt true (SDXL base's)

Writes Tests/DiffusionTests/Resources/pipeline-sdxl/:
  tiny-sdxl/                the folder (fp16 weights; the references run in fp32 on those values)
  references.safetensors    per case: "<case>.latents" [steps, B, 4, h, w] after every step,
                            "<case>.image" [B, H, W, 3] uint8 values of the decoded final latents,
                            "<case>.prompt_embeds" [B, 77, 64] and "<case>.pooled" [B, 32] (encode_prompt),
                            "<case>.add_time_ids" [6]
  cases.json                the arguments of every case (sampler: sepme's name, null = the folder's)

Usage: scripts/.venv/bin/python scripts/make_sdxl_pipeline_fixtures.py
"""
import json, os, shutil
import numpy as np
import torch
import diffusers
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from safetensors.torch import save_file

from fixture_weights import reinit
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "Tests", "DiffusionTests", "Resources", "pipeline-sdxl")
VOCAB = os.path.join(ROOT, "Tests", "CLIPTests", "Resources", "small-bpe")
torch.manual_seed(2025)


def text_config(vocab, act):
    return CLIPTextConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                          num_attention_heads=4, max_position_embeddings=77, hidden_act=act, layer_norm_eps=1e-5,
                          bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=32)


def text_encoders():
    vocab = len(json.load(open(os.path.join(VOCAB, "vocab.json"))))
    first = CLIPTextModel(text_config(vocab, "quick_gelu")).eval()
    second = CLIPTextModelWithProjection(text_config(vocab, "gelu")).eval()
    reinit(first, 0.3)
    reinit(second, 0.3)
    return first, second


def unet():
    m = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                             block_out_channels=(16, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                             up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                             use_linear_projection=True, transformer_layers_per_block=(1, 2),
                             addition_embed_type="text_time", addition_time_embed_dim=8,
                             projection_class_embeddings_input_dim=32 + 6 * 8, cross_attention_dim=64,
                             norm_num_groups=8).eval()
    reinit(m, 0.15)
    return m


def vae():
    m = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                      up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32), latent_channels=4,
                      norm_num_groups=8, layers_per_block=1, sample_size=16, scaling_factor=0.13025,
                      force_upcast=True).eval()
    reinit(m, 0.1)
    return m


def scheduler():
    # stable-diffusion-xl-base-1.0/scheduler/scheduler_config.json
    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  interpolation_type="linear", prediction_type="epsilon", steps_offset=1,
                                  timestep_spacing="leading", use_karras_sigmas=False)


def to_uint8(images):  # [B, 3, H, W] in [-1, 1] -> [B, H, W, 3], as VaeImageProcessor.postprocess + numpy_to_pil
    x = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()
    return torch.from_numpy((x * 255).round().astype(np.uint8).astype(np.float32))


CASES = {
    # The folder's Euler with guidance and no negative prompt: force_zeros_for_empty_prompt gives zeros.
    "euler_zero_negative": dict(sampler=None, prompt="a red circle", seed=0, steps=3, guidance=5.0),
    # A negative prompt, two images per prompt, a non-square size (time ids 16, 24).
    "euler_negative_batch": dict(sampler=None, prompt="a striped blue star", negative="a green square", seed=42,
                                 steps=3, guidance=6.0, batch=2, width=24, height=16),
    # An explicit empty negative prompt is encoded (not zeros), with DPM-Solver++ 2M Karras.
    "dpmpp_2m_karras_empty_negative": dict(sampler="dpm++2m-karras", cls="DPMSolverMultistepScheduler",
                                           config=dict(use_karras_sigmas=True), prompt="a dotted green heart",
                                           negative="", seed=13, steps=3, guidance=4.0),
    # No guidance (one UNet batch).
    "euler_a_no_guidance": dict(sampler="euler-a", cls="EulerAncestralDiscreteScheduler", config={},
                                prompt="an orange triangle", seed=5, steps=2, guidance=1.0),
}


def main():
    folder = os.path.join(OUT, "tiny-sdxl")
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(OUT, exist_ok=True)
    tok = CLIPTokenizer.from_pretrained(VOCAB)
    tok2 = CLIPTokenizer.from_pretrained(VOCAB, pad_token="!")
    assert tok2.pad_token_id == 0, tok2.pad_token_id
    first, second = text_encoders()
    pipe = StableDiffusionXLPipeline(vae=vae(), text_encoder=first, text_encoder_2=second, tokenizer=tok,
                                     tokenizer_2=tok2, unet=unet(), scheduler=scheduler(),
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder, dtype=torch.float32, add_watermarker=False)
    folder_config = pipe.scheduler.config
    assert pipe.config.force_zeros_for_empty_prompt
    assert pipe.vae.config.force_upcast and pipe.vae.config.scaling_factor == 0.13025

    refs = {}
    for name, c in CASES.items():
        cls = getattr(diffusers, c.get("cls", "EulerDiscreteScheduler"))
        pipe.scheduler = cls.from_config(folder_config, **c.get("config", {}))
        steps = []

        def record(p, i, t, kwargs):
            steps.append(kwargs["latents"].clone())
            return kwargs

        g = torch.Generator("cpu").manual_seed(c["seed"])
        batch = c.get("batch", 1)
        with torch.no_grad():
            lat = pipe(c["prompt"], negative_prompt=c.get("negative"), num_inference_steps=c["steps"],
                       guidance_scale=c["guidance"], generator=g, output_type="latent", width=c.get("width"),
                       height=c.get("height"), num_images_per_prompt=batch, callback_on_step_end=record).images
            img = pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
            embeds, _, pooled, _ = pipe.encode_prompt(c["prompt"], num_images_per_prompt=batch,
                                                      do_classifier_free_guidance=False)
        assert torch.equal(steps[-1], lat)
        h, w = c.get("height", 16), c.get("width", 16)
        refs[f"{name}.latents"] = torch.stack(steps).contiguous()
        refs[f"{name}.image"] = to_uint8(img).contiguous()
        refs[f"{name}.prompt_embeds"] = embeds.contiguous()
        refs[f"{name}.pooled"] = pooled.contiguous()
        refs[f"{name}.add_time_ids"] = torch.tensor([h, w, 0, 0, h, w], dtype=torch.float32)
        c = {k: v for k, v in c.items() if k not in ("cls", "config")}
        CASES[name] = c

    save_file(refs, os.path.join(OUT, "references.safetensors"))
    json.dump(CASES, open(os.path.join(OUT, "cases.json"), "w"), indent=1)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {len(refs)} reference tensors; SDXL fixtures {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
