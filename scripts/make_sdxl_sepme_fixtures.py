#!/usr/bin/env python3
"""A tiny random-weight SDXL folder with SDXL base's UNet block layout, for SepME on SDXL.

SDXL base 1.0's layout at toy sizes (no hub access): a plain first level, then two cross-attention
levels, two layers per block (so the SGM block numbers of kohya's SDXL LoRA names are the real
ones), transformer_layers_per_block (1, 1, 2), linear projections, "text_time" with six time ids.
Both text encoders have width 32 and 8 positions, so the context is [B, 8, 64] and a few prompts'
embeddings leave a null space (method.md §4: rank(M_k) < d). Tokenizers: the small CLIP BPE of
CLIPTests, the second padding with "!" as SDXL's. VAE with SDXL's scaling_factor 0.13025, the
folder's sampler Euler, force_zeros_for_empty_prompt true.

Writes Tests/ConceptErasureTests/Resources/:
  tiny-sdxl-sepme/         the folder (fp16 weights)
  sdxl-kohya-names.json    for every cross-attention key/value projection of the UNet (diffusers
                           module path), the kohya SDXL LoRA name with SGM block numbers
                           (`lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k`), each
                           checked to come back to that module through diffusers' own kohya
                           conversion (`_maybe_map_sgm_blocks_to_diffusers`, `_convert_unet_lora_key`)

Usage: scripts/.venv/bin/python scripts/make_sdxl_sepme_fixtures.py
"""
import json, os, shutil
import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from diffusers.utils import convert_unet_state_dict_to_peft
from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_lora_to_diffusers, _maybe_map_sgm_blocks_to_diffusers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from fixture_weights import reinit

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "Tests", "ConceptErasureTests", "Resources")
VOCAB = os.path.join(ROOT, "Tests", "CLIPTests", "Resources", "small-bpe")
LENGTH = 8
torch.manual_seed(1717)


def text_config(vocab, act):
    return CLIPTextConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                          num_attention_heads=4, max_position_embeddings=LENGTH, hidden_act=act, layer_norm_eps=1e-5,
                          bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=32)


def unet():
    m = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
                             block_out_channels=(8, 16, 16),
                             down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                             up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                             attention_head_dim=(2, 2, 4), use_linear_projection=True,
                             transformer_layers_per_block=(1, 1, 2), addition_embed_type="text_time",
                             addition_time_embed_dim=8, projection_class_embeddings_input_dim=32 + 6 * 8,
                             cross_attention_dim=64, norm_num_groups=4).eval()
    reinit(m, 0.15)
    return m


def vae():
    m = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                      up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
                      norm_num_groups=4, layers_per_block=1, sample_size=16, scaling_factor=0.13025,
                      force_upcast=True).eval()
    reinit(m, 0.1)
    return m


def sgm_name(module, config):
    """The SGM (original SDXL) block name of a diffusers cross-attention module, as kohya's sd-scripts
    names SDXL LoRA modules: input_blocks count conv_in (0), then per level its layers and a
    downsampler; output_blocks count each up level's layers + 1; the mid block's attentions are
    middle_block.1."""
    parts = module.split(".")
    n = config.layers_per_block
    if parts[0] == "down_blocks":
        head = ["input_blocks", str(1 + int(parts[1]) * (n + 1) + int(parts[3])), "1"]
        rest = parts[4:]
    elif parts[0] == "up_blocks":
        head = ["output_blocks", str(int(parts[1]) * (n + 1) + int(parts[3])), "1"]
        rest = parts[4:]
    elif parts[0] == "mid_block":
        head = ["middle_block", "1"]
        rest = parts[3:]
    else:
        raise ValueError(module)
    return "lora_unet_" + "_".join(head + rest)


def kohya_names(unet_model):
    names = {m: sgm_name(m, unet_model.config) for m, _ in unet_model.named_modules()
             if m.endswith(".attn2.to_k") or m.endswith(".attn2.to_v")}
    # diffusers' own conversion (what StableDiffusionXLPipeline.lora_state_dict runs on kohya keys)
    # must bring every name back to its module.
    state = {}
    for k in names.values():
        state[f"{k}.lora_down.weight"] = torch.zeros(1, 64)
        state[f"{k}.lora_up.weight"] = torch.zeros(4, 1)
        state[f"{k}.alpha"] = torch.tensor(1.0)
    mapped = _maybe_map_sgm_blocks_to_diffusers(dict(state), unet_model.config)
    converted, _ = _convert_non_diffusers_lora_to_diffusers(mapped)
    peft = convert_unet_state_dict_to_peft({k.removeprefix("unet."): v for k, v in converted.items()})
    modules = {k.removesuffix(".lora_A.weight") for k in peft if k.endswith(".lora_A.weight")}
    assert modules == set(names), f"diffusers maps the names to {sorted(modules - set(names))[:4]}, expected {sorted(set(names) - modules)[:4]}"
    return dict(sorted(names.items()))


def main():
    folder = os.path.join(OUT, "tiny-sdxl-sepme")
    if os.path.exists(folder):
        shutil.rmtree(folder)
    vocab = len(json.load(open(os.path.join(VOCAB, "vocab.json"))))
    first = CLIPTextModel(text_config(vocab, "quick_gelu")).eval()
    second = CLIPTextModelWithProjection(text_config(vocab, "gelu")).eval()
    reinit(first, 0.3)
    reinit(second, 0.3)
    tok = CLIPTokenizer.from_pretrained(VOCAB, model_max_length=LENGTH)
    tok2 = CLIPTokenizer.from_pretrained(VOCAB, pad_token="!", model_max_length=LENGTH)
    assert tok2.pad_token_id == 0, tok2.pad_token_id
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   interpolation_type="linear", prediction_type="epsilon", steps_offset=1,
                                   timestep_spacing="leading", use_karras_sigmas=False)
    u = unet()
    pipe = StableDiffusionXLPipeline(vae=vae(), text_encoder=first, text_encoder_2=second, tokenizer=tok,
                                     tokenizer_2=tok2, unet=u, scheduler=sched, force_zeros_for_empty_prompt=True,
                                     add_watermarker=False)
    pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    names = kohya_names(u)
    json.dump(names, open(os.path.join(OUT, "sdxl-kohya-names.json"), "w"), indent=1)
    print("ids:", tok(["a red circle", "a striped blue star", "zq watermark", ""], padding="max_length",
                      max_length=LENGTH, truncation=True).input_ids)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
    print(f"tiny-sdxl-sepme: {total / 1e6:.2f} MB; {len(names)} key/value projections")


if __name__ == "__main__":
    main()
