#!/usr/bin/env python3
"""Reference effects of UCE's closed form on the tiny test model, for UCEMethodTests.

An independent implementation of the closed form of UCE (Gandikota et al., WACV 2024) as the
authors' train-scripts/train_erase.py `edit_model` computes it with technique 'replace': for every
cross-attention to_k / to_v weight W, accumulate

    mat1 = lam W + erase_scale sum v* k^T + preserve_scale sum W k k^T
    mat2 = lam I + erase_scale sum k k^T  + preserve_scale sum k k^T

over each erased prompt's token window (from its last word token to the end, cut to the length of
the guide prompt's window; v* = W g with g the guide's aligned token embeddings; a blank guide is
tokenised as ' ') and over every token of each preserved prompt (the blank prompt when none is
given), then W' = mat1 inverse(mat2), in float64. Each concept prompt list is solved alone.

Written: Tests/ConceptErasureTests/Resources/uce-fixture.json with, per case, the token rows used
(k of the erased windows, k of the preserved prompts) and per projection the effects dW k of the
edit on those rows (dW = W' - W), which the Swift test compares with its own edit's effects.
"""
import json
import os

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import CLIPTextModel, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
RESOURCES = os.path.join(ROOT, "Tests", "ConceptErasureTests", "Resources")
MODEL = os.path.join(RESOURCES, "tiny-sepme")
OUT = os.path.join(RESOURCES, "uce-fixture.json")

CASES = [
    # The script's defaults: guide "" (the blank prompt), nothing to preserve but the blank prompt.
    {"name": "defaults", "erase": ["a red circle"], "guide": "", "preserve": [],
     "lambda": 0.5, "erase_scale": 1.0, "preserve_scale": 0.1},
    # A guide with more word tokens than the concept (the windows are cut to align), two preserved
    # prompts, a second wording of the concept, other scales.
    {"name": "guided", "erase": ["a red circle", "red circle"], "guide": "a striped blue star",
     "preserve": ["zq watermark", "a blue square"], "lambda": 0.2, "erase_scale": 2.0, "preserve_scale": 0.5},
]


def projections():
    """(key, W as float64 [d_out, d_in]) of every cross-attention to_k / to_v weight, sorted by key."""
    weights = load_file(os.path.join(MODEL, "unet", "diffusion_pytorch_model.safetensors"))
    keys = sorted(k[: -len(".weight")] for k in weights if ".attn2.to_k.weight" in k or ".attn2.to_v.weight" in k)
    return [(k, weights[k + ".weight"].astype(np.float64)) for k in keys]


def rounded(matrix):
    """Rows of 10 significant digits (far below the test's 1e-4 tolerance; a smaller file)."""
    return [[float(f"{x:.10g}") for x in row] for row in matrix]


def main():
    tokenizer = CLIPTokenizer.from_pretrained(os.path.join(MODEL, "tokenizer"))
    encoder = CLIPTextModel.from_pretrained(os.path.join(MODEL, "text_encoder"), torch_dtype=torch.float32).eval()
    length = tokenizer.model_max_length

    def encode(texts):
        ids = tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(ids.input_ids)[0].double().numpy()
        return hidden, ids.attention_mask.sum(dim=1).numpy()

    layers = projections()
    cases = []
    for case in CASES:
        guide = case["guide"] if case["guide"] != "" else " "
        pairs = []  # (concept window rows, guide window rows)
        for prompt in case["erase"]:
            hidden, mask = encode([prompt, guide])
            last, last_guide = int(mask[0]) - 2, int(mask[1]) - 2
            farthest = max(last, last_guide)
            k = hidden[0][last: length - max(0, farthest - last)]
            g = hidden[1][last_guide: length - max(0, farthest - last_guide)]
            assert k.shape == g.shape
            pairs.append((k, g))
        preserve = case["preserve"] if case["preserve"] else [""]
        kept = [encode([p])[0][0] for p in preserve]
        erased_rows = np.concatenate([k for k, _ in pairs])
        kept_rows = np.concatenate(kept)
        effects = {}
        for key, w in layers:
            d = w.shape[1]
            mat1 = case["lambda"] * w.copy()
            mat2 = case["lambda"] * np.eye(d)
            for k, g in pairs:
                v = g @ w.T  # v* = W g, one row per token
                mat1 += case["erase_scale"] * sum(np.outer(v[i], k[i]) for i in range(len(k)))
                mat2 += case["erase_scale"] * sum(np.outer(k[i], k[i]) for i in range(len(k)))
            for p in kept:
                v = p @ w.T
                mat1 += case["preserve_scale"] * sum(np.outer(v[i], p[i]) for i in range(len(p)))
                mat2 += case["preserve_scale"] * sum(np.outer(p[i], p[i]) for i in range(len(p)))
            edited = torch.from_numpy(mat1) @ torch.inverse(torch.from_numpy(mat2))
            delta = edited.numpy() - w
            effects[key] = {"erased": rounded(erased_rows @ delta.T), "preserved": rounded(kept_rows @ delta.T)}
        cases.append({**case, "erased_rows": rounded(erased_rows), "preserved_rows": rounded(kept_rows), "effects": effects})
        print(f"{case['name']}: {len(erased_rows)} erased rows, {len(kept_rows)} preserved rows, {len(layers)} projections")
    with open(OUT, "w") as f:
        json.dump({"model": "tiny-sepme", "cases": cases}, f)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
