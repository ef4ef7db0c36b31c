#!/usr/bin/env python3
"""Reference fixtures for the Swift CLIPTextModel (Tests/CLIPTests/TextModelTests.swift).

Builds tiny random-weight transformers `CLIPTextModel`s (torch.manual_seed per model), saves each as a
transformers folder (`config.json` + `model.safetensors`, `save_pretrained(safe_serialization=True)`)
under Tests/CLIPTests/Resources/tiny-text-encoders/<name>/, and writes the model's outputs for a few
prompts to Tests/CLIPTests/Resources/tiny-text-encoders/<name>-reference.safetensors:

  input_ids          [P, 77]  float32 (exact small integers) from transformers' CLIPTokenizer on
                              Resources/small-bpe, padding="max_length", max_length=77, truncation=True
  last_hidden_state  [P, 77, D] after the final layer norm
  pooled             [P, D]   pooler_output (eos_token_id == 2: legacy argmax rule, else first EOS)
  hidden_state_<k>   [P, 77, D] output_hidden_states[k] (k = 0 is the embeddings)

Models:
  quick   hidden 32, 2 layers, 4 heads, intermediate 37, quick_gelu, eos = tokenizer's EOS, fp32 weights
  legacy  hidden 48, 3 layers, 3 heads, intermediate 64, gelu, eos_token_id 2 (legacy pooled rule),
          layer_norm_eps 1e-6, weights saved in fp16 (references computed from the fp16-rounded weights)
          and in the SD1.x hub key layout (`text_model.` prefix + `position_ids` buffer, as transformers
          4.x wrote it; transformers 5.x writes keys without the prefix and reads both)

Weights are drawn N(0, 0.2) (LayerNorm weights 1 + N(0, 0.1)) so every layer matters numerically.
Outputs are computed in float64 from the (rounded) float32 weights and stored as float32.

Usage: python3 scripts/make_clip_text_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

RES = "Tests/CLIPTests/Resources"
OUT = f"{RES}/tiny-text-encoders"

PROMPTS = [
    "",
    "a photo of a cat",
    "a photograph of an astronaut riding a horse",
    "Van Gogh style painting of a starry night over the city",
    "hello, world! 123",
    "a cat and a dog, oil on canvas",
    "portrait of a woman wearing a red hat",
    # overlong: truncated to 75 tokens + BOS + EOS
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),
]


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def to_sd_layout(folder, config):
    """Rewrites model.safetensors with the transformers 4.x / SD1.x hub key layout: every key under
    `text_model.`, plus the int64 `text_model.embeddings.position_ids` buffer [1, 77] older checkpoints carry."""
    path = f"{folder}/model.safetensors"
    state = load_file(path)
    state = {"text_model." + k: v for k, v in state.items()}
    state["text_model.embeddings.position_ids"] = torch.arange(config.max_position_embeddings).unsqueeze(0)
    save_file(state, path, metadata={"format": "pt"})


def build(name, seed, dtype, config_kwargs, hidden_index, tokenizer, sd_layout=False):
    torch.manual_seed(seed)
    config = CLIPTextConfig(**config_kwargs)
    model = CLIPTextModel(config).eval()
    randomize(model, seed)
    folder = f"{OUT}/{name}"
    os.makedirs(folder, exist_ok=True)
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    if sd_layout:
        to_sd_layout(folder, config)
        reloaded = CLIPTextModel.from_pretrained(folder).to(torch.float32)
        for (k, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items()):
            assert torch.equal(a.to(dtype).float(), b), k
    # Reference from exactly the stored (possibly fp16-rounded) weights, in float64.
    model = model.to(torch.float64)
    batch = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    ids = batch["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    tensors = {
        "input_ids": ids.to(torch.float32),
        "last_hidden_state": out.last_hidden_state.to(torch.float32),
        "pooled": out.pooler_output.to(torch.float32),
        f"hidden_state_{hidden_index}": out.hidden_states[hidden_index].to(torch.float32),
    }
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, f"{OUT}/{name}-reference.safetensors",
              metadata={"prompts": json.dumps(PROMPTS), "hidden_index": str(hidden_index)})
    print(name, {k: tuple(v.shape) for k, v in tensors.items()})


def main():
    tokenizer = CLIPTokenizer.from_pretrained(f"{RES}/small-bpe")
    vocab = len(tokenizer)
    common = dict(vocab_size=vocab, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                  pad_token_id=1, projection_dim=16)
    build("quick", 1234, torch.float32,
          dict(common, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
               hidden_act="quick_gelu", eos_token_id=tokenizer.eos_token_id),
          hidden_index=1, tokenizer=tokenizer)
    build("legacy", 5678, torch.float16,
          dict(common, hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=64,
               hidden_act="gelu", eos_token_id=2, layer_norm_eps=1e-6),
          hidden_index=2, tokenizer=tokenizer, sd_layout=True)


if __name__ == "__main__":
    main()
