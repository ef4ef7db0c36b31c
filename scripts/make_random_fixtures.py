#!/usr/bin/env python3
"""Pin PyTorch CPU-generator draws for Tests/TensorEngineTests/RandomTests.swift.

Writes raw little-endian arrays (float32 -> .f32, int64 -> .i64) and an index
`Tests/TensorEngineTests/Resources/random/index.json`:

    {"torch": "2.13.0+cpu",
     "cases": [{"name": ..., "seed": <uint64>, "normalKernel": "scalar" | "avx2",
                "steps": [{"op": "randn" | "rand" | "randint", "shape": [...],
                           "low": int, "high": int,       # randint only
                           "file": "<name>.f32|.i64"}]}]}

All steps of one case run in order on ONE generator made by
`torch.Generator().manual_seed(seed)`, so later steps pin how the state advances.

torch.randn with >= 16 float32 elements takes a CPU-capability-dependent path
(aten/src/ATen/native/cpu/DistributionTemplates.h: `normal_fill_AVX2` when the
kernel was built for AVX2, else the scalar `normal_fill`). The script re-runs
itself under ATEN_CPU_CAPABILITY=default and =avx2 to pin both; the avx2 variant
needs an AVX2 machine (checked below).

Usage: python3 scripts/make_random_fixtures.py
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                   "Tests", "TensorEngineTests", "Resources", "random")

SEEDS = {"s0": 0, "s42": 42, "s2p32p7": 2**32 + 7}

RANDN_SIZES = {"n1": [1], "n15": [15], "n16": [16], "n17": [17], "n4x64x64": [4, 64, 64]}


def cases_for(kernel):
    """Cases whose randn path depends on the CPU kernel (all randn with >= 16 elements)."""
    cases = []
    for sname, seed in SEEDS.items():
        for zname, shape in RANDN_SIZES.items():
            if int(np.prod(shape)) < 16:
                continue
            cases.append((f"{kernel}_randn_{zname}_{sname}", seed, [("randn", shape, None, None)]))
    # Consecutive calls: vectorised path with a tail, then more, then the scalar path.
    cases.append((f"{kernel}_sequence_s42", 42, [
        ("randn", [3], None, None),     # scalar path, leaves a cached double sample
        ("randn", [33], None, None),    # normal_fill with tail recompute (cache untouched)
        ("randn", [5], None, None),     # scalar path: first value is the cached one
        ("rand", [7], None, None),
        ("randn", [2, 8], None, None),
        ("randint", [9], 0, 10),
        ("randn", [1], None, None),
    ]))
    return cases


def kernel_independent_cases():
    cases = []
    for sname, seed in SEEDS.items():
        for zname, shape in RANDN_SIZES.items():
            if int(np.prod(shape)) >= 16:
                continue
            cases.append((f"randn_{zname}_{sname}", seed, [("randn", shape, None, None)]))
    cases += [
        ("rand_17_s0", 0, [("rand", [17], None, None)]),
        ("rand_3x5_s2p32p7", 2**32 + 7, [("rand", [3, 5], None, None), ("rand", [4], None, None)]),
        ("randint_0_1000_10_s0", 0, [("randint", [10], 0, 1000)]),
        ("randint_m5_5_4x4_s42", 42, [("randint", [4, 4], -5, 5), ("randint", [3], 7, 8)]),
        # range >= 2^32 takes the random64() path
        ("randint_big_6_s42", 42, [("randint", [6], -(2**40), 2**41 + 3)]),
        ("randn_twice_1_s0", 0, [("randn", [1], None, None), ("randn", [1], None, None),
                                 ("randn", [1], None, None)]),
    ]
    return cases


def run(cases, kernel):
    index = []
    for name, seed, steps in cases:
        g = torch.Generator().manual_seed(seed)
        entry = {"name": name, "seed": seed, "steps": []}
        if kernel is not None:
            entry["normalKernel"] = kernel
        for i, step in enumerate(steps):
            op, shape = step[0], step[1]
            rec = {"op": op, "shape": shape}
            if op == "randn":
                t = torch.randn(shape, generator=g)
                data, ext = t.numpy().astype("<f4"), "f32"
            elif op == "rand":
                t = torch.rand(shape, generator=g)
                data, ext = t.numpy().astype("<f4"), "f32"
            elif op == "randint":
                low, high = step[2], step[3]
                t = torch.randint(low, high, shape, generator=g)
                assert t.dtype == torch.int64
                rec["low"], rec["high"] = low, high
                data, ext = t.numpy().astype("<i8"), "i64"
            else:
                raise ValueError(op)
            fname = f"{name}_{i}.{ext}" if len(steps) > 1 else f"{name}.{ext}"
            rec["file"] = fname
            tmp = os.path.join(OUT, fname + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data.tobytes())
            os.replace(tmp, os.path.join(OUT, fname))
            entry["steps"].append(rec)
        index.append(entry)
    return index


def child(kernel):
    want = {"scalar": "DEFAULT", "avx2": "AVX2"}[kernel]
    got = torch.backends.cpu.get_cpu_capability()
    if got != want:
        sys.exit(f"ATEN_CPU_CAPABILITY gave {got}, expected {want} (AVX2 fixtures need an AVX2 CPU)")
    cases = cases_for(kernel)
    if kernel == "scalar":
        cases += kernel_independent_cases()
    json.dump(run(cases, kernel), sys.stdout)


def main():
    os.makedirs(OUT, exist_ok=True)
    index = []
    for kernel, cap in (("scalar", "default"), ("avx2", "avx2")):
        env = dict(os.environ, ATEN_CPU_CAPABILITY=cap)
        out = subprocess.run([sys.executable, __file__, "--child", kernel], env=env,
                             check=True, capture_output=True, text=True).stdout
        index += json.loads(out)
    # Cases without a normal kernel-dependent randn are marked kernel-independent.
    for e in index:
        if not any(s["op"] == "randn" and int(np.prod(s["shape"])) >= 16 for s in e["steps"]):
            e.pop("normalKernel", None)
    doc = {"torch": torch.__version__, "cases": index}
    tmp = os.path.join(OUT, "index.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(OUT, "index.json"))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(index)} cases, {total} bytes in {OUT}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
