"""PyTorch reference numbers for sepme's benchmarks, fp32, 2 threads, random weights. Peak memory is
the process's maximum resident set size (resource.getrusage), weights included.

  --what unet (default)   `sepme bench unet`: diffusers UNet2DConditionModel with the SD1.4 or SDXL base
                          configuration (--config sd14|sdxl|config.json; SDXL also gets a random pooled embedding and
                          the six time ids of the latent size), batch 1; a no-grad forward, and
                          forward+backward with gradients only into every cross-attention (attn2) to_k /
                          to_v weight. With --bf16, also the no-grad forward under torch.autocast("cpu",
                          bfloat16), after one warm-up call (`sepme bench unet --bf16`).
  --what erase-step       `sepme bench erase-step`: one SepME iteration as sepme runs it (method.md §1-2),
                          in PyTorch: each attn2 to_k / to_v gets a factorised shift beta * A S (S an
                          orthonormal [rank, d] basis, A trainable, initialised as after some training), applied by
                          forward hooks; the original predictions for the concept and the blank prompt in one
                          batched no-grad call with the shifts off, one edited forward on the concept,
                          loss mean(r_edit * r_orig) + lambda * mean_i |dW_i|_1, backward into A, an Adam
                          step. One warm-up iteration, then the fastest of --repeats.
  --what generate         `sepme generate`: diffusers StableDiffusionXLPipeline.from_pretrained(--model) in fp32,
                          one prompt, --steps, guidance 5, --size pixels; the load and the generation timed apart.

  --what load             `sepme bench load`: diffusers StableDiffusionPipeline.from_pretrained(--model) in fp32
                          (each load's pipeline dropped before the next); the first load, then the fastest of
                          --repeats more.
  --what vae              `sepme bench vae`: diffusers AutoencoderKL with SD1.4's configuration, decode of one
                          --size x --size latent; one warm-up call, then the fastest of --repeats.
  --what clip             `sepme bench clip`: transformers CLIPTextModel, ViT-L/14 (SD 1.x), --batch rows of
                          --tokens random ids; one warm-up call, then the fastest of --repeats.

Usage: scripts/.venv/bin/python scripts/bench_torch.py [--what unet|erase-step|generate|load|vae|clip]
       [--config sd14|sdxl] [--size 64] [--tokens 77] [--batch 1] [--repeats 1] [--rank 10] [--model DIR] [--bf16]
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
# stabilityai/stable-diffusion-xl-base-1.0 unet/config.json (the values that differ from diffusers' defaults).
SDXL = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, norm_num_groups=32,
)
CONFIGS = {"sd14": SD14, "sdxl": SDXL}


def peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # kB on Linux


def random_unet(config):
    torch.manual_seed(0)
    if config in CONFIGS:
        model = UNet2DConditionModel(**CONFIGS[config]).eval()
    else:  # a diffusers unet config.json
        model = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02) if p.ndim > 1 else p.zero_()
    model.requires_grad_(False)
    return model


def inputs(model, size, tokens, batch=1):
    """Latents, context and (SDXL) added conditions for `batch` samples sharing one context."""
    sample = torch.randn(batch, 4, size, size)
    context = torch.randn(1, tokens, model.config.cross_attention_dim).expand(batch, -1, -1).contiguous()
    added = None
    if model.config.addition_embed_type == "text_time":
        pooled = model.config.projection_class_embeddings_input_dim - 6 * model.config.addition_time_embed_dim
        ids = torch.tensor([[8.0 * size, 8.0 * size, 0, 0, 8.0 * size, 8.0 * size]]).expand(batch, -1)
        added = {"text_embeds": torch.randn(1, pooled).expand(batch, -1).contiguous(), "time_ids": ids}
    return sample, context, added


def bench_unet(args):
    model = random_unet(args.config)
    sample, context, added = inputs(model, args.size, args.tokens)
    print(f"UNet {args.config}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in model.parameters())} parameters, {args.size}x{args.size} latent")
    forward = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            model(sample, 500, encoder_hidden_states=context, added_cond_kwargs=added)
        forward = min(forward, time.perf_counter() - t0)
    print(f"forward:          {forward:.3f} s")
    if args.bf16:
        # PyTorch's CPU mixed precision: matmuls and convolutions in bfloat16 (oneDNN), fp32 elsewhere.
        forward_bf16 = float("inf")
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(sample, 500, encoder_hidden_states=context, added_cond_kwargs=added)  # warm-up: weight casts
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model(sample, 500, encoder_hidden_states=context, added_cond_kwargs=added)
                forward_bf16 = min(forward_bf16, time.perf_counter() - t0)
        print(f"forward bf16:     {forward_bf16:.3f} s (torch.autocast cpu bfloat16)")

    weights = [w for name, m in model.named_modules() if name.endswith("attn2") for w in (m.to_k.weight, m.to_v.weight)]
    for w in weights:
        w.requires_grad_(True)
    both = float("inf")
    for _ in range(args.repeats):
        for w in weights:
            w.grad = None
        t0 = time.perf_counter()
        out = model(sample, 500, encoder_hidden_states=context, added_cond_kwargs=added).sample
        out.square().mean().backward()
        both = min(both, time.perf_counter() - t0)
    print(f"forward+backward: {both:.3f} s ({sum(w.numel() for w in weights)} trainable parameters)")
    print(f"peak resident memory (maxrss): {peak_gb():.2f} GB")


class Shifts:
    """SepME's factorised K/V shifts dW = beta * A S on every attn2 to_k / to_v, added by forward hooks."""

    def __init__(self, model, rank, beta=1e-2):
        width = model.config.cross_attention_dim
        self.basis = torch.linalg.qr(torch.randn(width, rank))[0].t().contiguous()  # [rank, d], orthonormal rows
        self.beta = beta
        self.enabled = True
        self.factors = []
        for name, module in model.named_modules():
            if name.endswith("attn2"):
                for linear in (module.to_k, module.to_v):
                    a = (torch.randn(linear.out_features, rank) * 1e-3).requires_grad_(True)
                    self.factors.append(a)
                    linear.register_forward_hook(self.hook(a))

    def hook(self, a):
        def add(module, inputs, output):
            if not self.enabled:
                return output
            return output + self.beta * (inputs[0] @ self.basis.t()) @ a.t()
        return add

    def penalty(self):
        return sum((self.beta * a @ self.basis).abs().sum() for a in self.factors) / len(self.factors)


def bench_erase_step(args):
    model = random_unet(args.config)
    latents, context, added = inputs(model, args.size, args.tokens)
    _, blank_context, blank_added = inputs(model, args.size, args.tokens)
    shifts = Shifts(model, args.rank)
    optimizer = torch.optim.Adam(shifts.factors, lr=0.1)
    both_context = torch.cat([context, blank_context])
    both_added = None if added is None else {k: torch.cat([added[k], blank_added[k]]) for k in added}
    print(f"SepME iteration {args.config}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.size}x{args.size} latent, basis rank {args.rank}, {sum(a.numel() for a in shifts.factors)} trainable parameters")

    def step():
        shifts.enabled = False
        with torch.no_grad():
            eps = model(torch.cat([latents, latents]), 500, encoder_hidden_states=both_context,
                        added_cond_kwargs=both_added).sample
        original_concept, original_blank = eps.chunk(2)
        shifts.enabled = True
        edited = model(latents, 500, encoder_hidden_states=context, added_cond_kwargs=added).sample
        loss = ((edited - original_blank) * (original_concept - original_blank)).mean() + 1e-3 * shifts.penalty()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    t0 = time.perf_counter()
    step()
    print(f"warm-up iteration: {time.perf_counter() - t0:.3f} s")
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    print(f"iteration:        {best:.3f} s")
    print(f"peak resident memory (maxrss): {peak_gb():.2f} GB")


def bench_generate(args):
    from diffusers import StableDiffusionXLPipeline
    t0 = time.perf_counter()
    pipe = StableDiffusionXLPipeline.from_pretrained(args.model, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter() - t0
    print(f"generate {args.model}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.size}x{args.size} px, {args.steps} step(s), guidance 5; loaded in {loaded:.1f} s")
    t0 = time.perf_counter()
    with torch.no_grad():
        pipe("a castle on a hill", num_inference_steps=args.steps, guidance_scale=5.0, width=args.size, height=args.size,
             generator=torch.Generator().manual_seed(0), output_type="np")
    print(f"generation:       {time.perf_counter() - t0:.3f} s")
    print(f"peak resident memory (maxrss): {peak_gb():.2f} GB")


def bench_load(args):
    import gc

    # Every class the folder names, imported before the clock starts (the libraries import lazily), so
    # that the first load times loading, as sepme's does, not Python's imports.
    from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer
    _ = (AutoencoderKL, DDIMScheduler, PNDMScheduler, UNet2DConditionModel, CLIPTextModel, CLIPTokenizer)
    print(f"load benchmark: {args.model}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    times = []
    for _ in range(args.repeats + 1):
        t0 = time.perf_counter()
        pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32)
        times.append(time.perf_counter() - t0)
        parameters = sum(p.numel() for m in (pipe.text_encoder, pipe.unet, pipe.vae) for p in m.parameters())
        print(f"  {times[-1]:.3f} s, {parameters} parameters", flush=True)
        del pipe
        gc.collect()
    print(f"first load:       {times[0]:.4f} s")
    print(f"load:             {min(times[1:] or times):.4f} s")
    print(f"peak resident memory (maxrss): {peak_gb():.2f} GB")


def fastest(call, repeats):
    """One warm-up call, then the fastest of `repeats` calls."""
    call()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_vae(args):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(  # Stable Diffusion 1.4's VAE configuration (diffusers' defaults but the blocks)
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512).eval()
    vae.requires_grad_(False)
    latent = torch.randn(1, 4, args.size, args.size)
    print(f"VAE decode: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in vae.parameters())} parameters, {args.size}x{args.size} latent")
    with torch.no_grad():
        seconds = fastest(lambda: vae.decode(latent), args.repeats)
    print(f"forward:          {seconds:.4f} s")
    print(f"peak resident memory (maxrss): {peak_gb():.2f} GB")


def bench_clip(args):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    config = CLIPTextConfig(  # ViT-L/14, Stable Diffusion 1.x's text encoder
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768)
    model = CLIPTextModel(config).eval()
    model.requires_grad_(False)
    ids = torch.randint(0, config.vocab_size, (args.batch, args.tokens))
    print(f"CLIP text encoder: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in model.parameters())} parameters, batch {args.batch}, {args.tokens} tokens")
    with torch.no_grad():
        seconds = fastest(lambda: model(ids), args.repeats)
    print(f"forward:          {seconds:.4f} s")
    print(f"peak resident memory (maxrss): {peak_gb():.2f} GB")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", choices=["unet", "erase-step", "generate", "load", "vae", "clip"], default="unet")
    parser.add_argument("--config", default="sd14", help="sd14, sdxl or the path of a diffusers unet config.json")
    parser.add_argument("--size", type=int, default=64, help="latent side (unet, erase-step) or image side (generate)")
    parser.add_argument("--tokens", type=int, default=77)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rank", type=int, default=10, help="erase-step: the null-space basis rank (sepme prints its own)")
    parser.add_argument("--model", help="generate: a diffusers SDXL folder; load: a diffusers SD 1.x / 2.x folder")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1, help="clip: rows per call")
    parser.add_argument("--bf16", action="store_true", help="unet: also time the forward under bfloat16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(2)
    {"unet": bench_unet, "erase-step": bench_erase_step, "generate": bench_generate, "load": bench_load,
     "vae": bench_vae, "clip": bench_clip}[args.what](args)


if __name__ == "__main__":
    main()
