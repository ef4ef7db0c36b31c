"""Reference fixtures for the Swift AutoencoderKL (Tests/DiffusionTests/VAETests.swift).

Builds two random-weight diffusers AutoencoderKL models and writes, under
Tests/DiffusionTests/Resources/vae/:
  <name>/config.json, <name>/diffusion_pytorch_model.safetensors   (diffusers save_pretrained)
  <name>.safetensors   inputs and reference outputs:
    image [B, C, H, W] in [-1, 1], mean, logvar, std (encode), sample (posterior.sample with
    torch.Generator().manual_seed(seed), seed in the metadata "sample_seed"; tiny32 also carries
    "sd14_parameter_count", the parameter count of diffusers' AutoencoderKL with the SD 1.4 config), latent (a fixed random latent) and
    decoded (decode(latent)).
Models:
  tiny32  diffusers' pipeline-test VAE: block_out_channels [32, 64], 2 blocks, latent 4,
          norm_num_groups 32, layers_per_block 1; weights stored as float16.
  three   block_out_channels [16, 32, 32], norm_num_groups 8, latent 3, layers_per_block 1,
          in/out channels 3/2, scaling_factor 0.5; weights float32.
Weights are re-initialised (normal / sqrt(fan_in) for matrices, small offsets for biases and norms) so
every layer matters. References are computed in float64 from the (stored-precision) weights; the
posterior noise is torch.randn(shape, generator) in float32, exactly as randn_tensor draws it.

Run: python3 scripts/make_vae_fixtures.py
"""
import json
import os
import shutil

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionTests", "Resources", "vae")


def reinit(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif name.endswith("weight"):  # norm scales
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def sd14_parameter_count():
    """numel of diffusers' AutoencoderKL with the Stable Diffusion 1.4 VAE configuration."""
    model = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2, sample_size=512,
                          down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    return sum(p.numel() for p in model.parameters())


def build(name, config, dtype, image_shape, seed, sample_seed, extra_metadata=None):
    torch.manual_seed(0)
    model = AutoencoderKL(**config).eval()
    reinit(model, seed)
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    # Reference from the stored weights, in float64.
    model = model.to(torch.float64)
    g = torch.Generator().manual_seed(seed + 1)
    image = (torch.rand(image_shape, generator=g) * 2 - 1).to(torch.float32)
    f = 2 ** (len(config["block_out_channels"]) - 1)
    latent_shape = (image_shape[0], config["latent_channels"], image_shape[2] // f, image_shape[3] // f)
    latent = torch.randn(latent_shape, generator=g).to(torch.float32)
    with torch.no_grad():
        posterior = model.encode(image.double()).latent_dist
        noise = torch.randn(posterior.mean.shape, generator=torch.Generator().manual_seed(sample_seed))
        sample = posterior.mean + posterior.std * noise.double()
        decoded = model.decode(latent.double()).sample
        # The float32 model's own sampling must draw the same noise (diffusers randn_tensor).
        m32 = model.to(torch.float32)
        p32 = m32.encode(image).latent_dist
        s32 = p32.sample(generator=torch.Generator().manual_seed(sample_seed))
        assert torch.allclose(s32, p32.mean + p32.std * noise, atol=1e-6), "randn_tensor differs from torch.randn"
        assert torch.allclose(s32.double(), sample, atol=1e-4 * sample.abs().max().item())
    tensors = {
        "image": image, "mean": posterior.mean, "logvar": posterior.logvar, "std": posterior.std,
        "sample": sample, "latent": latent, "decoded": decoded,
    }
    tensors = {k: v.to(torch.float32).contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata={"sample_seed": str(sample_seed), **(extra_metadata or {})})
    print(name, {k: tuple(v.shape) for k, v in tensors.items()},
          "decoded max", tensors["decoded"].abs().max().item(), "mean max", tensors["mean"].abs().max().item())


def main():
    os.makedirs(OUT, exist_ok=True)
    tiny32 = dict(
        in_channels=3, out_channels=3, block_out_channels=[32, 64], latent_channels=4, norm_num_groups=32,
        layers_per_block=1, sample_size=32,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )
    three = dict(
        in_channels=3, out_channels=2, block_out_channels=[16, 32, 32], latent_channels=3, norm_num_groups=8,
        layers_per_block=1, sample_size=16, scaling_factor=0.5,
        down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
    )
    build("tiny32", tiny32, torch.float16, (1, 3, 16, 16), seed=10, sample_seed=1234,
          extra_metadata={"sd14_parameter_count": str(sd14_parameter_count())})
    build("three", three, torch.float32, (2, 3, 12, 8), seed=20, sample_seed=99)
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("total bytes", total)


if __name__ == "__main__":
    main()
