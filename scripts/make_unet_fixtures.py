"""Reference fixtures for Tests/DiffusionTests/UNetTests.swift.

Builds small random-weight diffusers UNet2DConditionModels, saves each as a diffusers folder
(config.json + diffusion_pytorch_model.safetensors) under Tests/DiffusionTests/Resources/unet/<name>/,
and writes the model's noise predictions for a batch of 2 (different encoder states per item,
as in classifier-free guidance) at several timesteps to reference.safetensors in that folder.

References are computed in float64 from the stored weights (fp16 weights are rounded first), so
they carry no float32 rounding of their own. Run from the repository root: python3 scripts/make_unet_fixtures.py
"""
import json
import os

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionTests", "Resources", "unet")

CASES = [
    # (1) diffusers' tiny test UNet (tests/pipelines/stable_diffusion: get_dummy_components).
    # Stored in fp16 to keep the fixtures small (1.1M parameters).
    dict(name="tiny_fp16", dtype=torch.float16, size=(16, 12), tokens=7, seed=1,
         config=dict(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
                     down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                     up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                     cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)),
    # (2) three levels, one resnet per level, per-block head counts, cross_attention_dim 48,
    #     an input size (12x10) that is not a multiple of 4, so up blocks upsample to the skip sizes.
    dict(name="three_level", dtype=torch.float32, size=(12, 10), tokens=5, seed=2,
         config=dict(block_out_channels=(16, 32, 32), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
                     down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                     up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                     cross_attention_dim=48, attention_head_dim=[2, 4, 8], norm_num_groups=8)),
    # (3) pixel space (3 channels), linear projections, two transformer layers per block, heads given
    #     through num_attention_heads (written into config.json after building, see below), and the
    #     non-SD1 timestep options flip_sin_to_cos=False, freq_shift=1, plus center_input_sample and
    #     mid_block_scale_factor.
    dict(name="pixel_linear", dtype=torch.float32, size=(8, 16), tokens=6, seed=3,
         heads=[2, 4],
         config=dict(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=3, out_channels=3,
                     down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                     cross_attention_dim=24, attention_head_dim=[2, 4], norm_num_groups=8,
                     use_linear_projection=True, transformer_layers_per_block=2, flip_sin_to_cos=False,
                     freq_shift=1, center_input_sample=True, mid_block_scale_factor=1.5)),
]

TIMESTEPS = [999, 500, 1]
MIXED = [700, 20]


def randomize(model, generator):
    # Non-trivial weights everywhere (diffusers zero-initialises nothing here, but conv_out and
    # proj_out would otherwise dominate or vanish): N(0, 0.1^2), norm weights 1 + N(0, 0.1^2).
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32) * 0.1
            is_norm_weight = name.endswith("weight") and p.ndim == 1
            p.copy_(noise + 1 if is_norm_weight else noise)


def main():
    total = 0
    for case in CASES:
        torch.manual_seed(case["seed"])
        generator = torch.Generator().manual_seed(case["seed"])
        model = UNet2DConditionModel(**case["config"]).eval()
        randomize(model, generator)
        folder = os.path.join(ROOT, case["name"])
        os.makedirs(folder, exist_ok=True)
        model.to(case["dtype"]).save_pretrained(folder, safe_serialization=True)
        if "heads" in case:
            # diffusers refuses num_attention_heads at construction (issue 2011) but its meaning is fixed:
            # heads = num_attention_heads or attention_head_dim. Write it the modern way, with a
            # different (unused) attention_head_dim so a reader that confuses the two fails.
            path = os.path.join(folder, "config.json")
            with open(path) as f:
                cfg = json.load(f)
            assert cfg["attention_head_dim"] == case["heads"]
            cfg["num_attention_heads"] = case["heads"]
            cfg["attention_head_dim"] = 8
            with open(path, "w") as f:
                json.dump(cfg, f, indent=2, sort_keys=True)
        model = model.to(torch.float64)  # fp16 weights: rounded values, evaluated exactly

        h, w = case["size"]
        cfg = case["config"]
        sample = torch.randn(2, cfg["in_channels"], h, w, generator=generator)
        context = torch.randn(2, case["tokens"], cfg["cross_attention_dim"], generator=generator)
        tensors = {"sample": sample, "encoder_hidden_states": context,
                   "timesteps_mixed": torch.tensor(MIXED, dtype=torch.float32)}
        with torch.no_grad():
            for t in TIMESTEPS:
                out = model(sample.double(), t, encoder_hidden_states=context.double()).sample
                tensors[f"noise_pred_t{t}"] = out.float()
            out = model(sample.double(), torch.tensor(MIXED), encoder_hidden_states=context.double()).sample
            tensors["noise_pred_mixed"] = out.float()
        ref = os.path.join(folder, "reference.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, ref,
                  metadata={"timesteps": json.dumps(TIMESTEPS), "mixed": json.dumps(MIXED)})
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        total += size
        params = sum(p.numel() for p in model.parameters())
        print(f"{case['name']}: {params} parameters, {size / 1e6:.2f} MB, "
              f"max |ref| {tensors['noise_pred_t999'].abs().max():.3f}")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
