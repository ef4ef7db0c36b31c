#!/usr/bin/env python3
"""Writes the small reference files for Tests/SafeTensorsTests with torch + safetensors.

Usage:
  python3 scripts/make_safetensors_fixtures.py            # (re)writes Tests/SafeTensorsTests/Resources/*
  python3 scripts/make_safetensors_fixtures.py --check-swift-file PATH
      # loads a file written by the Swift SafeTensorsWriter (see SafeTensorsCompatibilityTests,
      # SAFETENSORS_EXPORT_DIR) with the Python reader and compares it with python_written.safetensors

Files (all a few KB):
  reference_mixed.safetensors  F32/F16/BF16/F64/I64/I32/U8/BOOL tensors, scalar, empty tensor, metadata.
                               Every F16/BF16/F64 tensor `x` has a companion `x_as_f32` = torch's x.float().
  reference_expected.json      dtype, shape and values (torch .tolist(); exactly representable) per key.
  rounding_reference.safetensors  `source` F32 values (random + round-to-even ties + overflow/subnormal
                               edges) and torch's `source.half()` / `source.bfloat16()` as `torch_f16` / `torch_bf16`.
  python_written.safetensors   a fixed tensor set saved by safetensors.torch.save_file; the Swift writer must
                               reproduce these bytes exactly.
"""
import argparse
import json
import os

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SafeTensorsTests", "Resources")


def special_values():
    # Float32 values around the binary16 / bfloat16 edge cases.
    return torch.tensor([
        0.0, -0.0, float("inf"), float("-inf"), 65504.0, -65504.0,
        2.0 ** -24, 2.0 ** -14, 2.0 ** -14 - 2.0 ** -24, 1.0 / 3.0, -2.5, 1.0e-3,
    ], dtype=torch.float32)


def tie_values():
    # Exact midpoints between neighbouring binary16 / bfloat16 values (round-to-nearest-even cases),
    # plus overflow and subnormal boundaries.
    ties = [1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, -(1.0 + 2.0 ** -11), 2048.0 + 1.0, 2048.0 + 3.0,
            65519.0, 65520.0, 65536.0, 1.0e6, -1.0e6,
            2.0 ** -25, 3 * 2.0 ** -25, 2.0 ** -25 + 2.0 ** -40, 5 * 2.0 ** -26, 2.0 ** -30,
            1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1.0 + 2.0 ** -8 + 2.0 ** -20, 3.0e38, -3.0e38,
            2.0 ** -126, 2.0 ** -149, float("inf"), float("nan")]
    return torch.tensor(ties, dtype=torch.float32)


def write_reference_mixed():
    gen = torch.Generator().manual_seed(1234)
    f16 = torch.randn(2, 5, generator=gen).half()
    bf16 = torch.randn(2, 5, generator=gen).bfloat16()
    f64 = torch.randn(3, generator=gen, dtype=torch.float64)
    special = special_values().half()
    special_bf16 = special_values().bfloat16()
    tensors = {
        "weight_f32": (torch.arange(12, dtype=torch.float32) - 5.0).mul(0.125).reshape(3, 4),
        "weight_f16": f16, "weight_f16_as_f32": f16.float(),
        "weight_bf16": bf16, "weight_bf16_as_f32": bf16.float(),
        "special_f16": special, "special_f16_as_f32": special.float(),
        "special_bf16": special_bf16, "special_bf16_as_f32": special_bf16.float(),
        "values_f64": f64, "values_f64_as_f32": f64.float(),
        "token_ids": torch.tensor([[49406, 320, 1125, 49407, -7, 2 ** 40]], dtype=torch.int64),
        "counts_i32": torch.tensor([-3, 0, 7, 2 ** 30], dtype=torch.int32),
        "bytes_u8": torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
        "mask_bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    metadata = {"format": "pt", "source": "make_safetensors_fixtures.py"}
    save_file(tensors, os.path.join(OUT, "reference_mixed.safetensors"), metadata=metadata)

    dtype_names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                   torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}
    expected = {"metadata": metadata, "tensors": {}}
    for name, t in tensors.items():
        values = t.flatten().tolist()
        if t.is_floating_point():
            # JSON has no inf: store floats as their float32 bit patterns next to the decimal values.
            as_f32 = t.float().flatten()
            entry_values = {"float32_bits": as_f32.view(torch.int32).tolist()}
        else:
            entry_values = {"int64": [int(v) for v in values]}
        expected["tensors"][name] = {"dtype": dtype_names[t.dtype], "shape": list(t.shape), **entry_values}
    with open(os.path.join(OUT, "reference_expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def write_rounding_reference():
    gen = torch.Generator().manual_seed(99)
    random_values = torch.cat([
        torch.randn(96, generator=gen),
        torch.randn(48, generator=gen) * 1.0e4,
        torch.randn(48, generator=gen) * 1.0e-5,
        torch.randn(32, generator=gen) * 1.0e-7,
    ])
    source = torch.cat([random_values, tie_values(), special_values()]).contiguous()
    save_file({"source": source, "torch_f16": source.half(), "torch_bf16": source.bfloat16()},
              os.path.join(OUT, "rounding_reference.safetensors"))


def python_written_tensors():
    return {
        "b.weight": (torch.arange(6, dtype=torch.float32) - 2.0).mul(0.5).reshape(2, 3),
        "a.bias": torch.tensor([0.25, -1.5, 3.0], dtype=torch.float16),
        "c.scale": torch.tensor([[1.0, -0.0078125]], dtype=torch.bfloat16),
        "ids": torch.tensor([0, 1, 49406, 49407], dtype=torch.int64),
        "empty": torch.zeros(0, 2),
        "scalar": torch.tensor(1.5),
        "na\u00efve \"quoted\"/name\n": torch.tensor([7.0]),
    }


def write_python_written():
    save_file(python_written_tensors(), os.path.join(OUT, "python_written.safetensors"),
              metadata={"format": "pt"})


def check_swift_file(path):
    expected = python_written_tensors()
    loaded = load_file(path)
    assert sorted(loaded) == sorted(expected), (sorted(loaded), sorted(expected))
    for name, t in expected.items():
        assert loaded[name].dtype == t.dtype and loaded[name].shape == t.shape, name
        assert torch.equal(loaded[name], t), name
    with safe_open(path, "pt") as f:
        assert f.metadata() == {"format": "pt"}, f.metadata()
    with open(path, "rb") as a, open(os.path.join(OUT, "python_written.safetensors"), "rb") as b:
        same = a.read() == b.read()
    print(f"{path}: read by Python safetensors OK; bytes identical to python_written.safetensors: {same}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check-swift-file")
    args = parser.parse_args()
    if args.check_swift_file:
        check_swift_file(args.check_swift_file)
    else:
        os.makedirs(OUT, exist_ok=True)
        write_reference_mixed()
        write_rounding_reference()
        write_python_written()
        for name in sorted(os.listdir(OUT)):
            print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
