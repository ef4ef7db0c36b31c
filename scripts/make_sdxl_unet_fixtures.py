"""Reference fixture for Tests/DiffusionTests/SDXLUNetTests.swift.

Builds a small random-weight diffusers UNet2DConditionModel with the SDXL options (after the dummy UNet of
diffusers' tests/pipelines/stable_diffusion_xl: a plain first level, then cross-attention with two
transformer layers, linear projections, addition_embed_type "text_time" with addition_time_embed_dim
8 and projection_class_embeddings_input_dim = 32 (pooled width) + 6 * 8), saves it as a diffusers
folder (fp16 weights) under Tests/DiffusionTests/Resources/unet/sdxl_text_time/, and writes the
model's noise predictions for a batch of 2 (different encoder states, pooled embeddings and time
ids per item, as in classifier-free guidance) at several timesteps to reference.safetensors there.

References are computed in float64 from the stored (fp16-rounded) weights.
Run from the repository root: scripts/.venv/bin/python scripts/make_sdxl_unet_fixtures.py
"""
import json
import os

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

FOLDER = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionTests", "Resources", "unet", "sdxl_text_time")
POOLED = 32
CONFIG = dict(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
              down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
              up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
              attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2),
              addition_embed_type="text_time", addition_time_embed_dim=8,
              projection_class_embeddings_input_dim=POOLED + 6 * 8, cross_attention_dim=64, norm_num_groups=8)
TIMESTEPS = [999, 500, 1]
MIXED = [700, 20]
# (original height, original width, crop top, crop left, target height, target width) per item.
TIME_IDS = [[96.0, 64.0, 0.0, 0.0, 96.0, 64.0], [1024.0, 768.0, 16.0, 8.0, 512.0, 512.0]]


def main():
    torch.manual_seed(17)
    generator = torch.Generator().manual_seed(17)
    model = UNet2DConditionModel(**CONFIG).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32) * 0.1
            p.copy_(noise + 1 if name.endswith("weight") and p.ndim == 1 else noise)
    os.makedirs(FOLDER, exist_ok=True)
    model.to(torch.float16).save_pretrained(FOLDER, safe_serialization=True)
    model = model.to(torch.float64)

    sample = torch.randn(2, 4, 12, 10, generator=generator)
    context = torch.randn(2, 7, CONFIG["cross_attention_dim"], generator=generator)
    text_embeds = torch.randn(2, POOLED, generator=generator)
    time_ids = torch.tensor(TIME_IDS)
    tensors = {"sample": sample, "encoder_hidden_states": context, "text_embeds": text_embeds,
               "time_ids": time_ids, "timesteps_mixed": torch.tensor(MIXED, dtype=torch.float32)}
    added = {"text_embeds": text_embeds.double(), "time_ids": time_ids.double()}
    with torch.no_grad():
        for t in TIMESTEPS:
            out = model(sample.double(), t, encoder_hidden_states=context.double(), added_cond_kwargs=added).sample
            tensors[f"noise_pred_t{t}"] = out.float()
        out = model(sample.double(), torch.tensor(MIXED), encoder_hidden_states=context.double(),
                    added_cond_kwargs=added).sample
        tensors["noise_pred_mixed"] = out.float()
        # The pooled text matters: the same call with the items' pooled embeddings swapped.
        swapped = {"text_embeds": text_embeds.flip(0).double(), "time_ids": time_ids.double()}
        out = model(sample.double(), 500, encoder_hidden_states=context.double(), added_cond_kwargs=swapped).sample
        tensors["noise_pred_t500_swapped_pooled"] = out.float()
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(FOLDER, "reference.safetensors"),
              metadata={"timesteps": json.dumps(TIMESTEPS), "mixed": json.dumps(MIXED)})
    size = sum(os.path.getsize(os.path.join(FOLDER, f)) for f in os.listdir(FOLDER))
    params = sum(p.numel() for p in model.parameters())
    print(f"sdxl_text_time: {params} parameters, {size / 1e6:.2f} MB, "
          f"max |ref| {tensors['noise_pred_t999'].abs().max():.3f}, "
          f"swap changes by {(tensors['noise_pred_t500'] - tensors['noise_pred_t500_swapped_pooled']).abs().max():.3f}")


if __name__ == "__main__":
    main()
