"""PyTorch reference numbers for `sepme bench unet`: diffusers UNet2DConditionModel with the SD1.4
configuration and random weights, batch 1, fp32, 2 threads; a no-grad forward, and forward+backward
with gradients only into every cross-attention (attn2) to_k / to_v weight. Peak memory is the
process's maximum resident set size (resource.getrusage), weights included.

Usage: python3 scripts/bench_torch.py [--size 64] [--tokens 77] [--repeats 1]
"""
import argparse
import resource
import time

import torch
from diffusers import UNet2DConditionModel

SD14 = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0,
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=77)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)

    model = UNet2DConditionModel(**SD14).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02) if p.ndim > 1 else p.zero_()
    model.requires_grad_(False)
    sample = torch.randn(1, 4, args.size, args.size)
    context = torch.randn(1, args.tokens, 768)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in model.parameters())} parameters")

    forward = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            model(sample, 500, encoder_hidden_states=context)
        forward = min(forward, time.perf_counter() - t0)
    print(f"forward:          {forward:.3f} s")

    trainable = [m for name, m in model.named_modules() if name.endswith("attn2")]
    weights = [w for attn in trainable for w in (attn.to_k.weight, attn.to_v.weight)]
    for w in weights:
        w.requires_grad_(True)
    both = float("inf")
    for _ in range(args.repeats):
        for w in weights:
            w.grad = None
        t0 = time.perf_counter()
        out = model(sample, 500, encoder_hidden_states=context).sample
        out.square().mean().backward()
        both = min(both, time.perf_counter() - t0)
    print(f"forward+backward: {both:.3f} s ({sum(w.numel() for w in weights)} trainable parameters)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    print(f"peak resident memory (maxrss): {peak / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
