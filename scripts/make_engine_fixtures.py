#!/usr/bin/env python3
"""Reference tensors for TensorEngine's forward and backward parity tests (PyTorch, CPU, float32).

For every case: inputs `<case>.in<i>`, output `<case>.out`, a fixed projection `<case>.proj`, and
the gradients `<case>.grad<i>` of sum(out * proj) with respect to each input. Written to
Tests/TensorEngineTests/Resources/engine_ops.safetensors (well under 1 MB).
"""
import os
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(20261129)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorEngineTests", "Resources", "engine_ops.safetensors")
tensors = {}


def r(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(tuple(shape)) * (hi - lo) + lo).float()


def case(name, fn, *inputs):
    ins = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*ins)
    proj = r(*out.shape)
    (out * proj).sum().backward()
    for i, t in enumerate(ins):
        tensors[f"{name}.in{i}"] = t.detach().contiguous()
        tensors[f"{name}.grad{i}"] = t.grad.detach().contiguous()
    tensors[f"{name}.out"] = out.detach().contiguous()
    tensors[f"{name}.proj"] = proj.contiguous()


case("add_broadcast", lambda a, b: a + b, r(2, 3, 4, 5), r(3, 1, 5))
case("mul_channel", lambda a, b: a * b, r(2, 4, 3, 3), r(1, 4, 1, 1))
case("div", lambda a, b: a / b, r(3, 5), r(5, lo=0.5, hi=2))
case("exp", torch.exp, r(4, 6))
case("log", torch.log, r(4, 6, lo=0.1, hi=3))
case("sqrt", torch.sqrt, r(4, 6, lo=0.1, hi=3))
case("pow3", lambda x: x ** 3, r(4, 6))
case("silu", F.silu, r(4, 9, lo=-4, hi=4))
case("gelu", F.gelu, r(4, 9, lo=-4, hi=4))
case("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), r(4, 9, lo=-4, hi=4))
case("quick_gelu", lambda x: x * torch.sigmoid(1.702 * x), r(4, 9, lo=-4, hi=4))
case("sigmoid", torch.sigmoid, r(4, 9, lo=-4, hi=4))
case("tanh", torch.tanh, r(4, 9, lo=-4, hi=4))
case("sum_axes", lambda x: x.sum(dim=(0, 2)), r(3, 4, 5))
case("mean_all", lambda x: x.mean(), r(3, 4, 5))
case("var_axis", lambda x: x.var(dim=1, unbiased=False, keepdim=True), r(3, 4, 5))
case("permute", lambda x: x.permute(0, 2, 3, 1).contiguous(), r(2, 3, 4, 5))
case("concat", lambda a, b: torch.cat([a, b], dim=1), r(2, 3, 4), r(2, 2, 4))
case("slice", lambda x: x[:, 1:3], r(2, 4, 5))
case("upsample", lambda x: F.interpolate(x, scale_factor=2.0, mode="nearest"), r(2, 3, 4, 5))
case("matmul_batched", torch.matmul, r(2, 3, 5, 7), r(2, 3, 7, 4))
case("matmul_broadcast", torch.matmul, r(2, 5, 7), r(7, 4))
case("linear", lambda x, w, b: F.linear(x, w, b), r(2, 3, 6), r(4, 6), r(4))
case("softmax", lambda x: torch.softmax(x, dim=-1), r(3, 4, 9, lo=-3, hi=3))
case("layer_norm", lambda x, w, b: F.layer_norm(x, (10,), w, b, eps=1e-5), r(3, 4, 10), r(10), r(10))
case("group_norm", lambda x, w, b: F.group_norm(x, 4, w, b, eps=1e-6), r(2, 8, 5, 4), r(8), r(8))
case("group_norm_32", lambda x, w, b: F.group_norm(x, 32, w, b, eps=1e-5), r(1, 64, 6, 6), r(64), r(64))

emb_table = r(10, 4)
idx = torch.tensor([[0, 9, 3], [3, 3, 1]])
tensors["embedding.indices"] = idx.to(torch.float32)
case("embedding", lambda t: F.embedding(idx, t), emb_table)

save_file(tensors, OUT)
print(f"wrote {len(tensors)} tensors, {os.path.getsize(OUT)} bytes to {os.path.normpath(OUT)}")
