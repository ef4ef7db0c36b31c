"""Reference fixtures for the Swift DDIM / DDPM schedulers (Tests/DiffusionTests/SchedulerTests.swift).

Writes Tests/DiffusionTests/Resources/schedulers.safetensors. For every variant V (listed in the
metadata key "variants", comma-separated):
  metadata  V.class   "DDIMScheduler" or "DDPMScheduler"
            V.config  JSON of the keyword arguments given to the diffusers scheduler
            V.eta     DDIM eta passed to step (DDIM only)
            V.seed    seed of the torch.Generator passed to every step of the chain
  tensors   V.alphas_cumprod [1000]         scheduler.alphas_cumprod (float32)
            V.timesteps10 [10], V.timesteps50 [50]   set_timesteps(n).timesteps (ints stored as float32, exact)
            V.sample0 [2, 2, 4, 4]          initial sample x_T (torch.randn)
            V.model_outputs [10, 2, 2, 4, 4]   the model output fed at each of the 10 steps
            V.prev_samples [10, 2, 2, 4, 4]    step(...).prev_sample after each step; step i+1 starts from
                                               the output of step i (a full 10-step chain)
The stochastic variants share one generator over the chain, so the noise draws must consume it
exactly like diffusers' randn_tensor (one torch.randn(shape, generator) per stochastic step).

Run: python3 scripts/make_scheduler_fixtures.py
"""
import json
import os

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionTests", "Resources", "schedulers.safetensors")

SD1 = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
           set_alpha_to_one=False, clip_sample=False)
SHAPE = (2, 2, 4, 4)

VARIANTS = {
    # name: (class, config kwargs, eta, seed)
    "ddim_sd1": (DDIMScheduler, SD1, 0.0, 0),
    "ddim_sd1_trailing": (DDIMScheduler, dict(SD1, timestep_spacing="trailing"), 0.0, 0),
    "ddim_sd1_linspace": (DDIMScheduler, dict(SD1, timestep_spacing="linspace"), 0.0, 0),
    "ddim_sd1_vpred": (DDIMScheduler, dict(SD1, prediction_type="v_prediction"), 0.0, 0),
    "ddim_sd1_sample_pred": (DDIMScheduler, dict(SD1, prediction_type="sample"), 0.0, 0),
    "ddim_sd1_eta1": (DDIMScheduler, SD1, 1.0, 1234),
    "ddim_sd1_eta05_trailing": (DDIMScheduler, dict(SD1, timestep_spacing="trailing"), 0.5, 7),
    "ddim_defaults": (DDIMScheduler, {}, 0.0, 0),
    "ddim_cosine": (DDIMScheduler, dict(beta_schedule="squaredcos_cap_v2", clip_sample=False), 0.0, 0),
    "ddpm_sd1": (DDPMScheduler, {k: v for k, v in SD1.items() if k != "set_alpha_to_one"}, 0.0, 42),
    "ddpm_defaults": (DDPMScheduler, {}, 0.0, 43),
    "ddpm_sd1_trailing": (DDPMScheduler, dict({k: v for k, v in SD1.items() if k != "set_alpha_to_one"},
                                              timestep_spacing="trailing"), 0.0, 44),
    "ddpm_sd1_linspace_vpred": (DDPMScheduler, dict({k: v for k, v in SD1.items() if k != "set_alpha_to_one"},
                                                    timestep_spacing="linspace", prediction_type="v_prediction"), 0.0, 45),
    "ddim_zero_snr_vpred": (DDIMScheduler, dict(SD1, rescale_betas_zero_snr=True, timestep_spacing="trailing",
                                                 prediction_type="v_prediction"), 0.0, 0),
    "ddpm_zero_snr_vpred": (DDPMScheduler, dict({k: v for k, v in SD1.items() if k != "set_alpha_to_one"},
                                                rescale_betas_zero_snr=True, timestep_spacing="trailing",
                                                prediction_type="v_prediction"), 0.0, 48),
    "ddpm_fixed_large": (DDPMScheduler, dict(variance_type="fixed_large"), 0.0, 46),
    "ddpm_fixed_small_log": (DDPMScheduler, dict(variance_type="fixed_small_log", clip_sample=False), 0.0, 47),
}


def main():
    tensors, metadata = {}, {"variants": ",".join(VARIANTS)}
    data_gen = torch.Generator().manual_seed(2024)
    for name, (cls, config, eta, seed) in VARIANTS.items():
        sched = cls(**config)
        tensors[f"{name}.alphas_cumprod"] = sched.alphas_cumprod.to(torch.float32).clone()
        for n in (50, 10):  # 10 last: the chain runs with 10 steps
            sched.set_timesteps(n)
            tensors[f"{name}.timesteps{n}"] = sched.timesteps.to(torch.float32).clone()
        sample = torch.randn(SHAPE, generator=data_gen)
        outputs = torch.randn((10,) + SHAPE, generator=data_gen)
        tensors[f"{name}.sample0"] = sample.clone()
        generator = torch.Generator().manual_seed(seed)
        prev = []
        for i, t in enumerate(sched.timesteps):
            if cls is DDIMScheduler:
                sample = sched.step(outputs[i], int(t), sample, eta=eta, generator=generator).prev_sample
            else:
                sample = sched.step(outputs[i], int(t), sample, generator=generator).prev_sample
            prev.append(sample)
        tensors[f"{name}.model_outputs"] = outputs
        tensors[f"{name}.prev_samples"] = torch.stack(prev)
        metadata[f"{name}.class"] = cls.__name__
        metadata[f"{name}.config"] = json.dumps(config)
        metadata[f"{name}.eta"] = repr(eta)
        metadata[f"{name}.seed"] = str(seed)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, OUT, metadata=metadata)
    print(OUT, os.path.getsize(OUT), "bytes,", len(VARIANTS), "variants")


if __name__ == "__main__":
    main()
