#!/usr/bin/env python3
"""torch.optim.Adam / SGD trajectories on fixed parameters and gradients, for OptimizerTests.
Writes Tests/TensorEngineTests/Resources/optimizers.safetensors: initial parameter `p0`, the gradient
of each step `g<k>`, and the parameter after each step for every configuration `<name>.p<k>`."""
import os
import torch
from safetensors.torch import save_file

torch.manual_seed(5)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorEngineTests", "Resources", "optimizers.safetensors")
p0 = torch.randn(7, 5)
grads = [torch.randn(7, 5) * s for s in (1.0, 0.1, 3.0, 0.01, 1.0)]
out = {"p0": p0.clone()}
for k, g in enumerate(grads):
    out[f"g{k}"] = g.clone()
configs = {
    "adam": lambda p: torch.optim.Adam([p], lr=0.1),
    "adam_wd": lambda p: torch.optim.Adam([p], lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    "sgd": lambda p: torch.optim.SGD([p], lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=0.01),
}
for name, make in configs.items():
    p = torch.nn.Parameter(p0.clone())
    opt = make(p)
    for k, g in enumerate(grads):
        p.grad = g.clone()
        opt.step()
        out[f"{name}.p{k}"] = p.detach().clone()
save_file(out, OUT)
print(f"wrote {len(out)} tensors to {os.path.normpath(OUT)}")
