#!/usr/bin/env python3
"""A tiny random-weight Stable Diffusion 2.x folder and diffusers' text-to-image runs on it.

The folder has the architecture of stabilityai/stable-diffusion-2-1 (768-v) at toy sizes, built from
diffusers / transformers config objects (no hub access):
  text_encoder  transformers CLIPTextModel as diffusers stores OpenCLIP ViT-H: hidden_act "gelu",
                bos/eos/pad ids 0/2/1 (the legacy pooled rule), 4x MLP width
  tokenizer     the small CLIP BPE of CLIPTests with pad_token "!" (SD 2.x pads with "!", id 0,
                not with <|endoftext|>)
  unet          use_linear_projection, upcast_attention, a per-block attention_head_dim list (the
                diffusers quirk: it holds head counts), three cross-attention levels then a plain one
  vae           the SD1/SD2 AutoencoderKL (scaling_factor 0.18215)
  scheduler     DDIMScheduler with prediction_type "v_prediction" and the hub file's keys
                (skip_prk_steps included, as in stable-diffusion-2-1/scheduler/scheduler_config.json)

Writes Tests/DiffusionTests/Resources/pipeline-sd2/:
  tiny-sd2/                 the folder (fp16 weights; the references run in fp32 on those values)
  references.safetensors    per case: "<case>.latents" [steps, B, 4, h, w] after every step,
                            "<case>.image" [B, H, W, 3] uint8 values of the decoded final latents,
                            "<case>.prompt_embeds" [B, 77, D] the text encoder's last hidden state
  cases.json                the arguments of every case (sampler: sepme's name, null = the folder's)
"""
import json, os, shutil
import numpy as np
import torch
import diffusers
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file

from fixture_weights import reinit
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "Tests", "DiffusionTests", "Resources", "pipeline-sd2")
VOCAB = os.path.join(ROOT, "Tests", "CLIPTests", "Resources", "small-bpe")
torch.manual_seed(2024)


def text_encoder():
    vocab = len(json.load(open(os.path.join(VOCAB, "vocab.json"))))
    # stable-diffusion-2-1/text_encoder/config.json at width 32 instead of 1024 (16 heads of 64 -> 4 of 8).
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="gelu",
                         layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=16)
    m = CLIPTextModel(cfg).eval()
    reinit(m, 0.3)
    return m


def unet():
    # stable-diffusion-2-1/unet/config.json: attention_head_dim [5, 10, 20, 20], use_linear_projection,
    # upcast_attention, cross_attention_dim 1024; here three levels and width 32.
    m = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                             block_out_channels=(16, 32, 32),
                             down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                             cross_attention_dim=32, attention_head_dim=[2, 4, 8], use_linear_projection=True,
                             upcast_attention=True, norm_num_groups=8).eval()
    reinit(m, 0.15)
    return m


def vae():
    m = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                      up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32), latent_channels=4,
                      norm_num_groups=8, layers_per_block=1, sample_size=16).eval()
    reinit(m, 0.1)
    return m


def scheduler():
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction")


def to_uint8(images):  # [B, 3, H, W] in [-1, 1] -> [B, H, W, 3], as VaeImageProcessor.postprocess + numpy_to_pil
    x = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()
    return torch.from_numpy((x * 255).round().astype(np.uint8).astype(np.float32))


CASES = {
    # The folder's own sampler (DDIM, v-prediction) with guidance: the SD 2.1 default run.
    "ddim_vpred": dict(sampler=None, prompt="a red circle", seed=0, steps=10, guidance=7.5),
    # A negative prompt and two images per prompt, so the "!"-padded negative embedding is used.
    "ddim_vpred_negative_batch": dict(sampler=None, prompt="a striped blue star", negative="a green square",
                                      seed=42, steps=6, guidance=5.0, batch=2),
    # The samplers of issue 17 built from the folder's configuration by from_config, v-prediction kept.
    "euler_vpred": dict(sampler="euler", cls="EulerDiscreteScheduler", config={}, prompt="a yellow cross",
                        seed=3, steps=6, guidance=7.5),
    "euler_a_vpred": dict(sampler="euler-a", cls="EulerAncestralDiscreteScheduler", config={},
                          prompt="an orange triangle", seed=5, steps=6, guidance=6.0),
    "dpmpp_2m_vpred": dict(sampler="dpm++2m", cls="DPMSolverMultistepScheduler", config={},
                           prompt="a purple star", seed=11, steps=6, guidance=7.5),
    "dpmpp_2m_karras_vpred": dict(sampler="dpm++2m-karras", cls="DPMSolverMultistepScheduler",
                                  config=dict(use_karras_sigmas=True), prompt="a dotted green heart", seed=13,
                                  steps=6, guidance=4.0),
}


def main():
    folder = os.path.join(OUT, "tiny-sd2")
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(OUT, exist_ok=True)
    tok = CLIPTokenizer.from_pretrained(VOCAB, pad_token="!")
    assert tok.pad_token_id == 0, tok.pad_token_id
    pipe = StableDiffusionPipeline(vae=vae(), text_encoder=text_encoder(), tokenizer=tok, unet=unet(),
                                   scheduler=scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    # The hub's stable-diffusion-2-1 scheduler_config.json also carries PNDM's skip_prk_steps, which
    # DDIMScheduler ignores; keep it so a reader of the folder meets the key as it is published.
    path = os.path.join(folder, "scheduler", "scheduler_config.json")
    sched = json.load(open(path))
    sched["skip_prk_steps"] = True
    json.dump(sched, open(path, "w"), indent=2, sort_keys=True)
    # The references run on the folder as a user loads it: an in-memory scheduler's config lists the
    # arguments it was not given (timestep_spacing, ...) as defaults, which from_config would then take
    # from the new class instead of from the folder's file.
    pipe = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    folder_config = pipe.scheduler.config
    assert folder_config.timestep_spacing == "leading" and folder_config.skip_prk_steps
    assert folder_config.prediction_type == "v_prediction"

    refs = {}
    for name, c in CASES.items():
        cls = getattr(diffusers, c.get("cls", "DDIMScheduler"))
        pipe.scheduler = cls.from_config(folder_config, **c.get("config", {}))
        steps = []

        def record(p, i, t, kwargs):
            steps.append(kwargs["latents"].clone())
            return kwargs

        g = torch.Generator("cpu").manual_seed(c["seed"])
        batch = c.get("batch", 1)
        with torch.no_grad():
            lat = pipe(c["prompt"], negative_prompt=c.get("negative"), num_inference_steps=c["steps"],
                       guidance_scale=c["guidance"], generator=g, output_type="latent",
                       num_images_per_prompt=batch, callback_on_step_end=record).images
            img = pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
            ids = tok([c["prompt"]] * batch, padding="max_length", max_length=77, truncation=True,
                      return_tensors="pt").input_ids
            embeds = pipe.text_encoder(ids)[0]
        assert torch.equal(steps[-1], lat)
        refs[f"{name}.latents"] = torch.stack(steps).contiguous()
        refs[f"{name}.image"] = to_uint8(img).contiguous()
        refs[f"{name}.prompt_embeds"] = embeds.contiguous()
        c = {k: v for k, v in c.items() if k not in ("cls", "config")}
        CASES[name] = c

    save_file(refs, os.path.join(OUT, "references.safetensors"))
    json.dump(CASES, open(os.path.join(OUT, "cases.json"), "w"), indent=1)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {len(refs)} reference tensors; SD 2.x fixtures {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
