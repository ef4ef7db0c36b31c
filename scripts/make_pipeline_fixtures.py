#!/usr/bin/env python3
"""Tiny Stable-Diffusion-layout model folders and end-to-end reference runs from diffusers.

Writes Tests/DiffusionTests/Resources/pipeline/:
  tiny-sd/     a complete diffusers folder (model_index.json, unet, text_encoder, tokenizer, vae,
               scheduler) with random weights; the tokenizer is the small CLIP BPE of CLIPTests
  pixel-sd/    the same without a VAE (a pixel-space model: in/out channels 3), sampled by a manual
               loop that follows StableDiffusionPipeline.__call__ step by step
  references.safetensors   final latents of 10-step runs and decoded uint8 images per case
  cases.json   the arguments of every case
"""
import json, os, shutil
import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file

from fixture_weights import reinit
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "Tests", "DiffusionTests", "Resources", "pipeline")
VOCAB = os.path.join(ROOT, "Tests", "CLIPTests", "Resources", "small-bpe")
torch.manual_seed(1234)


def text_encoder():
    vocab = len(json.load(open(os.path.join(VOCAB, "vocab.json"))))
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         bos_token_id=49406 if vocab > 49406 else vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1)
    m = CLIPTextModel(cfg).eval()
    reinit(m, 0.3)
    return m


def unet(in_ch, sample_size, cross=32):
    m = UNet2DConditionModel(sample_size=sample_size, in_channels=in_ch, out_channels=in_ch, layers_per_block=1,
                             block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=cross,
                             attention_head_dim=4, norm_num_groups=8).eval()
    reinit(m)
    return m


def vae():
    m = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                      up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32), latent_channels=4,
                      norm_num_groups=8, layers_per_block=1, sample_size=16).eval()
    reinit(m, 0.1)
    return m


def scheduler():
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def save_folder(path, unet_m, te, vae_m):
    if os.path.exists(path):
        shutil.rmtree(path)
    tok = CLIPTokenizer.from_pretrained(VOCAB)
    if vae_m is not None:
        pipe = StableDiffusionPipeline(vae=vae_m, text_encoder=te, tokenizer=tok, unet=unet_m, scheduler=scheduler(),
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.to(torch.float16).save_pretrained(path, safe_serialization=True)
        return pipe.to(torch.float32)
    os.makedirs(path)
    unet_m.half().save_pretrained(os.path.join(path, "unet"), safe_serialization=True)
    te.half().save_pretrained(os.path.join(path, "text_encoder"), safe_serialization=True)
    unet_m.float(), te.float()
    tok.save_pretrained(os.path.join(path, "tokenizer"))
    scheduler().save_pretrained(os.path.join(path, "scheduler"))
    json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
               "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
               "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"],
               "vae": [None, None], "safety_checker": [None, None], "feature_extractor": [None, None]},
              open(os.path.join(path, "model_index.json"), "w"), indent=2)
    return None


def to_uint8(images):  # [B, 3, H, W] in [-1, 1] -> [B, H, W, 3] uint8, as VaeImageProcessor.postprocess + numpy_to_pil
    x = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()
    return torch.from_numpy((x * 255).round().astype(np.uint8).astype(np.float32))


refs, cases = {}, {}
os.makedirs(OUT, exist_ok=True)
te = text_encoder()
pipe = save_folder(os.path.join(OUT, "tiny-sd"), unet(4, 8), te, vae())

latent_cases = {
    "cfg": dict(prompt="a red circle", seed=0, steps=10, guidance=7.5),
    "negative_batch": dict(prompt="a striped blue star", negative="a green square", seed=42, steps=10, guidance=3.0, batch=2),
    "no_guidance": dict(prompt="a heart in dotted style", seed=7, steps=10, guidance=1.0),
    "eta": dict(prompt="a yellow cross", seed=3, steps=10, guidance=5.0, eta=1.0),
    "ddpm": dict(prompt="an orange triangle", seed=5, steps=10, guidance=4.0, scheduler="ddpm"),
    "size": dict(prompt="a purple star", seed=11, steps=10, guidance=7.5, width=24, height=16),
    # The scheduler of SD1.x hub folders: PNDM (PLMS) with skip_prk_steps; the Swift test swaps this
    # configuration into a copy of tiny-sd and samples with the folder's default scheduler.
    "pndm": dict(prompt="a dotted green heart", seed=13, steps=10, guidance=7.5, scheduler="pndm"),
}
for name, c in latent_cases.items():
    if c.get("scheduler") == "ddpm":
        pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    elif c.get("scheduler") == "pndm":
        pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config, skip_prk_steps=True)
        pipe.scheduler.save_config(os.path.join(OUT, "pndm-scheduler"))
    else:
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator("cpu").manual_seed(c["seed"])
    with torch.no_grad():
        lat = pipe(c["prompt"], negative_prompt=c.get("negative"), num_inference_steps=c["steps"],
                   guidance_scale=c["guidance"], generator=g, eta=c.get("eta", 0.0), output_type="latent",
                   num_images_per_prompt=c.get("batch", 1), width=c.get("width"), height=c.get("height")).images
        img = pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
    refs[f"{name}.latents"] = lat.contiguous()
    refs[f"{name}.image"] = to_uint8(img).contiguous()
    cases[name] = c

# Pixel-space model (no VAE): the same loop by hand.
pix_unet = unet(3, 16)
save_folder(os.path.join(OUT, "pixel-sd"), pix_unet, te, None)
tok = CLIPTokenizer.from_pretrained(VOCAB)
def embed(p):
    ids = tok([p], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    return te(ids)[0]
c = dict(prompt="a white heart", seed=9, steps=10, guidance=6.0)
sch = scheduler()
sch.set_timesteps(c["steps"])
g = torch.Generator("cpu").manual_seed(c["seed"])
with torch.no_grad():
    cond, uncond = embed(c["prompt"]), embed("")
    x = torch.randn((1, 3, 16, 16), generator=g) * sch.init_noise_sigma
    for t in sch.timesteps:
        eps = pix_unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
        u, tx = eps.chunk(2)
        x = sch.step(u + c["guidance"] * (tx - u), t, x, generator=g).prev_sample
refs["pixel.latents"] = x.contiguous()
refs["pixel.image"] = to_uint8(x).contiguous()
cases["pixel"] = c

save_file(refs, os.path.join(OUT, "references.safetensors"))
json.dump(cases, open(os.path.join(OUT, "cases.json"), "w"), indent=1)
total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
print(f"wrote {len(refs)} reference tensors; pipeline fixtures {total / 1e6:.2f} MB")
