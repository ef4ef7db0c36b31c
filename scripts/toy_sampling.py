"""The embedded toy model in diffusers / transformers, shared by check_toy_model.py and bench_toy_torch.py.

`ToyModel(folder)` loads MODEL/unet with diffusers' UNet2DConditionModel, MODEL/text_encoder with
transformers' CLIPTextModel and MODEL/tokenizer with CLIPTokenizer, strictly (a missing, unexpected or
mismatched key is an error), and the folder's scheduler. `sample` is diffusers' StableDiffusionPipeline
text-to-image loop minus the VAE (the model works in pixel space): negative (empty) and positive
embeddings in one batch, both halves in one UNet call, classifier-free guidance, and the generator passed
to schedulers that draw noise (prepare_extra_step_kwargs).
"""
import inspect
import json
import os
import sys

import diffusers
import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer


class ToyModel:
    def __init__(self, folder):
        unet, unet_info = UNet2DConditionModel.from_pretrained(os.path.join(folder, "unet"), low_cpu_mem_usage=False,
                                                               output_loading_info=True)
        text_encoder, text_info = CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder"),
                                                                output_loading_info=True)
        for name, info in [("unet", unet_info), ("text_encoder", text_info)]:
            bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and len(v)}
            # transformers lists the non-persistent position_ids buffer for some versions; it is not a weight.
            bad = {k: [x for x in v if not str(x).endswith("position_ids")] for k, v in bad.items()}
            if any(bad.values()):
                sys.exit(f"{name}: not a strict load: {bad}")
        self.unet, self.text_encoder = unet.eval(), text_encoder.eval()
        self.tokenizer = CLIPTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
        with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
            self.scheduler_class = getattr(diffusers, json.load(f)["_class_name"])
        self.scheduler = self.scheduler_class.from_pretrained(os.path.join(folder, "scheduler"))
        self.takes_generator = "generator" in inspect.signature(self.scheduler.step).parameters

    def embed(self, texts):
        ids = self.tokenizer(texts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
                             return_tensors="pt").input_ids
        return self.text_encoder(ids)[0]

    def sample(self, prompt, batch, seed, steps, guidance):
        """Final latents of `batch` images of `prompt` from torch.Generator seed `seed`."""
        with torch.no_grad():
            context = torch.cat([self.embed([""] * batch), self.embed([prompt] * batch)])
            g = torch.Generator("cpu").manual_seed(seed)
            size = self.unet.config.sample_size
            latents = torch.randn((batch, self.unet.config.in_channels, size, size), generator=g)
            latents = latents * self.scheduler.init_noise_sigma
            self.scheduler.set_timesteps(steps)
            extra = {"generator": g} if self.takes_generator else {}
            for t in self.scheduler.timesteps:
                eps = self.unet(torch.cat([latents] * 2), t, encoder_hidden_states=context).sample
                e_u, e_c = eps.chunk(2)
                latents = self.scheduler.step(e_u + guidance * (e_c - e_u), t, latents, **extra).prev_sample
        return latents
