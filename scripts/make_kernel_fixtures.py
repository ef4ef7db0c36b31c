#!/usr/bin/env python3
"""Reference fixtures for TensorEngine's conv2d and scaled_dot_product_attention.

torch CPU, float32, fixed seeds. Writes raw little-endian float32 files plus index.json into
Tests/TensorEngineTests/Resources/kernels/. Each index entry names the op, its arguments and the
files (with shapes) of inputs and the reference output.

Usage: python3 scripts/make_kernel_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TensorEngineTests",
                   "Resources", "kernels")


def save(name, t, files):
    arr = t.detach().contiguous().numpy().astype("<f4")
    path = os.path.join(OUT, name + ".f32")
    tmp = path + ".tmp"
    arr.tofile(tmp)
    os.replace(tmp, path)
    files[name] = {"file": name + ".f32", "shape": list(arr.shape)}
    return name


def conv_case(name, seed, n, cin, cout, h, w, kh, kw, stride, padding, bias=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=g)
    wt = torch.randn(cout, cin, kh, kw, generator=g) * 0.3
    b = torch.randn(cout, generator=g) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=padding)
    files = {}
    entry = {"name": name, "op": "conv2d", "stride": list(stride), "padding": list(padding),
             "x": save(name + "_x", x, files), "weight": save(name + "_w", wt, files),
             "out": save(name + "_out", y, files)}
    if b is not None:
        entry["bias"] = save(name + "_b", b, files)
    entry["files"] = files
    return entry


def sdpa_case(name, seed, b, h, lq, lk, d, dv=None, scale=None):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, lq, d, generator=g)
    k = torch.randn(b, h, lk, d, generator=g)
    v = torch.randn(b, h, lk, dv or d, generator=g)
    y = F.scaled_dot_product_attention(q, k, v, scale=scale)
    files = {}
    entry = {"name": name, "op": "sdpa", "q": save(name + "_q", q, files), "k": save(name + "_k", k, files),
             "v": save(name + "_v", v, files), "out": save(name + "_out", y, files)}
    if scale is not None:
        entry["scale"] = scale
    entry["files"] = files
    return entry


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    cases = [
        conv_case("conv_s1_p0", 1, 2, 3, 4, 7, 6, 3, 3, (1, 1), (0, 0)),
        conv_case("conv_s1_p1", 2, 2, 3, 4, 7, 6, 3, 3, (1, 1), (1, 1)),
        conv_case("conv_s2_p0", 3, 2, 3, 4, 7, 6, 3, 3, (2, 2), (0, 0)),
        conv_case("conv_s2_p1", 4, 2, 3, 4, 7, 6, 3, 3, (2, 2), (1, 1)),
        conv_case("conv_1x1", 5, 2, 3, 4, 7, 6, 1, 1, (1, 1), (0, 0)),
        conv_case("conv_1x1_s2_p1_nobias", 6, 2, 3, 4, 7, 6, 1, 1, (2, 2), (1, 1), bias=False),
        conv_case("conv_rect_s21_p10", 7, 2, 3, 4, 7, 6, 3, 2, (2, 1), (1, 0)),
        conv_case("conv_sd_like", 8, 1, 16, 8, 12, 10, 3, 3, (1, 1), (1, 1)),
        sdpa_case("sdpa_small", 11, 2, 3, 37, 29, 8),
        sdpa_case("sdpa_multiblock", 12, 1, 2, 300, 77, 40),
        sdpa_case("sdpa_scale_dv", 13, 1, 2, 20, 50, 16, dv=12, scale=0.3),
    ]
    index = os.path.join(OUT, "index.json")
    with open(index + ".tmp", "w") as f:
        json.dump({"generator": "scripts/make_kernel_fixtures.py", "torch": torch.__version__,
                   "dtype": "float32 little-endian", "cases": cases}, f, indent=1)
    os.replace(index + ".tmp", index)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(cases)} cases, {total} bytes to {os.path.relpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
