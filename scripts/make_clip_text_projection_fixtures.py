#!/usr/bin/env python3
"""Reference fixture for the Swift CLIPTextModelWithProjection (Tests/CLIPTests/TextModelWithProjectionTests.swift).

Builds a tiny random-weight transformers `CLIPTextModelWithProjection` shaped like SDXL's
`text_encoder_2` (OpenCLIP ViT-bigG as diffusers stores it: hidden_act "gelu", eos_token_id 2, so
the pooled state is the one at the largest id, a bias-free text_projection to projection_dim), saves
it with `save_pretrained` under Tests/CLIPTests/Resources/tiny-text-encoders/projection/, and writes
its outputs for a few prompts to tiny-text-encoders/projection-reference.safetensors:

  input_ids          [P, 77]  float32 ids from transformers' CLIPTokenizer on Resources/small-bpe with
                              pad_token "!" (id 0, as SDXL's tokenizer_2), padding="max_length"
  text_embeds        [P, E]   text_projection(pooled output)
  last_hidden_state  [P, 77, D]
  penultimate        [P, 77, D] hidden_states[-2] (no final layer norm), SDXL's prompt embedding

and that tokenizer (save_pretrained) to tiny-text-encoders/projection-tokenizer/: "!" is then an added
special token (id 0), so a "!" in a prompt is id 0 too, as with SDXL's tokenizer_2.

References are computed in float64 from the stored float32 weights.
Usage: scripts/.venv/bin/python scripts/make_clip_text_projection_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

RES = "Tests/CLIPTests/Resources"
OUT = f"{RES}/tiny-text-encoders"
PROMPTS = [
    "",
    "a photo of a cat",
    "a photograph of an astronaut riding a horse",
    "hello, world! 123",
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),
]


def main():
    tokenizer = CLIPTokenizer.from_pretrained(f"{RES}/small-bpe", pad_token="!")
    assert tokenizer.pad_token_id == 0, tokenizer.pad_token_id
    torch.manual_seed(4321)
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                            num_attention_heads=4, max_position_embeddings=77, hidden_act="gelu",
                            layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=24)
    model = CLIPTextModelWithProjection(config).eval()
    g = torch.Generator().manual_seed(4321)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    tokenizer.save_pretrained(f"{OUT}/projection-tokenizer")
    folder = f"{OUT}/projection"
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    model = model.to(torch.float64)
    ids = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    tensors = {
        "input_ids": ids.to(torch.float32),
        "text_embeds": out.text_embeds.float(),
        "last_hidden_state": out.last_hidden_state.float(),
        "penultimate": out.hidden_states[-2].float(),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, f"{OUT}/projection-reference.safetensors",
              metadata={"prompts": json.dumps(PROMPTS)})
    print({k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
