"""Random weights for the tiny fixture models of `scripts/make_*_fixtures.py`."""
import torch


def reinit(model, scale=0.15):
    """Random weights large enough that every block changes the output (normalisation weights near 1,
    the rest N(0, scale²)), rounded to float16 values so a folder can be stored in fp16 while the
    references run in float32 on exactly those values. Draws from torch's global generator."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))
            p.copy_(p.half().float())
