#!/usr/bin/env python3
"""A tiny pixel-space SD-layout model for SepME's invariant tests.

Text width 64 with 8-token prompts, so the null space of a few prompts' embeddings (8 rows each) is
large (method.md §4: an exact null space needs rank(M_k) < d). Written as a diffusers folder (fp16
weights) to Tests/ConceptErasureTests/Resources/tiny-sepme/.
"""
import json, os, shutil
import torch
from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from fixture_weights import reinit

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "Tests", "ConceptErasureTests", "Resources", "tiny-sepme")
VOCAB = os.path.join(ROOT, "Tests", "CLIPTests", "Resources", "small-bpe")
torch.manual_seed(99)
if os.path.exists(OUT):
    shutil.rmtree(OUT)


vocab = len(json.load(open(os.path.join(VOCAB, "vocab.json"))))
te = CLIPTextModel(CLIPTextConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                  num_attention_heads=4, max_position_embeddings=8, hidden_act="quick_gelu",
                                  eos_token_id=vocab - 1, pad_token_id=vocab - 1, bos_token_id=vocab - 2)).eval()
reinit(te, 0.3)
unet = UNet2DConditionModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                            block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64,
                            attention_head_dim=4, norm_num_groups=8).eval()
reinit(unet, 0.15)
os.makedirs(OUT)
unet.half().save_pretrained(os.path.join(OUT, "unet"), safe_serialization=True)
te.half().save_pretrained(os.path.join(OUT, "text_encoder"), safe_serialization=True)
tok = CLIPTokenizer.from_pretrained(VOCAB, model_max_length=8)
tok.save_pretrained(os.path.join(OUT, "tokenizer"))
DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
              set_alpha_to_one=False, steps_offset=1).save_pretrained(os.path.join(OUT, "scheduler"))
json.dump({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
           "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
           "scheduler": ["diffusers", "DDIMScheduler"], "vae": [None, None]},
          open(os.path.join(OUT, "model_index.json"), "w"), indent=2)
print("ids:", tok(["a red circle", "a striped blue star", "zq watermark", ""], padding="max_length", max_length=8, truncation=True).input_ids)
total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
print(f"tiny-sepme: {total / 1e6:.2f} MB")
