"""Reference fixtures for the Swift schedulers (Tests/DiffusionTests/SchedulerTests.swift).

Writes Tests/DiffusionTests/Resources/schedulers.safetensors. For every variant V (listed in the
metadata key "variants", comma-separated):
  metadata  V.class   the diffusers class: DDIMScheduler, DDPMScheduler, PNDMScheduler,
                      EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler
            V.config  JSON of the keyword arguments given to the diffusers scheduler
            V.eta     DDIM eta passed to step (DDIM only)
            V.seed    seed of the torch.Generator passed to every step of the chain
            V.steps   inference steps of the chain (10 unless set)
  tensors   V.alphas_cumprod [1000]         scheduler.alphas_cumprod (float32; the variants before
                                               pndm_sd1 only: the later ones reuse their schedules)
            V.timesteps10 [n], V.timesteps50 [n]   set_timesteps(10 / 50).timesteps as float32 (integers
                                               exact; Euler's linspace and Karras timesteps fractional)
            V.sample0 [2, 2, 4, 4]          initial sample x_T (torch.randn; [2, 2, 2, 4] from pndm_sd1 on)
            V.model_outputs [k, 2, 2, 4, 4]    the model output fed at each of the k steps of the chain
            V.prev_samples [k, 2, 2, 4, 4]     step(...).prev_sample after each step; step i+1 starts from
                                               the output of step i (a full chain)
  sigma-based samplers (Euler, Euler ancestral, DPM-Solver) also:
            V.sigmas10 [11], V.sigmas50 [51]   scheduler.sigmas after set_timesteps(10 / 50)
            V.init_noise_sigma [1]          init_noise_sigma for the chain's step count
            V.scaled_inputs [k, 2, 2, 4, 4]    scale_model_input(sample, t) of each step's input sample
The stochastic variants share one generator over the chain, so the noise draws must consume it
exactly like diffusers' randn_tensor (one torch.randn(shape, generator) per stochastic step: DDPM,
DDIM with eta > 0, and every step of Euler ancestral, the last included).

Also writes Tests/DiffusionTests/Resources/scheduler-pipelines.safetensors: diffusers'
StableDiffusionPipeline on the committed tiny random-weight folder (Resources/pipeline/tiny-sd, made
by scripts/make_pipeline_fixtures.py) with each new sampler built by `from_config` from the folder's
scheduler, as `--scheduler NAME` does. For every case C (metadata "cases", JSON of its arguments):
  tensors   C.latents [steps, 1, 4, 8, 8]   the latents after each step (callback_on_step_end)

Run: python3 scripts/make_scheduler_fixtures.py
"""
import json
import os

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler)
from safetensors.torch import save_file

RESOURCES = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionTests", "Resources")
OUT = os.path.join(RESOURCES, "schedulers.safetensors")
PIPELINE_OUT = os.path.join(RESOURCES, "scheduler-pipelines.safetensors")

SD1 = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
           set_alpha_to_one=False, clip_sample=False)
SHAPE = (2, 2, 4, 4)
# The schedule of SD1 folders for the sigma-based samplers (they take no clip_sample / set_alpha_to_one).
SIGMA_SD1 = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
PNDM_SD1 = dict(SIGMA_SD1, set_alpha_to_one=False, skip_prk_steps=True)
SIGMA_CLASSES = (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler)

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
    # Variants added with the Euler / DPM-Solver samplers (appended: the ones above keep their data).
    "pndm_sd1": (PNDMScheduler, dict(PNDM_SD1), 0.0, 0),
    "pndm_sd1_vpred": (PNDMScheduler, dict(PNDM_SD1, prediction_type="v_prediction"), 0.0, 0),
    "euler_sd1_leading": (EulerDiscreteScheduler, dict(SIGMA_SD1, timestep_spacing="leading"), 0.0, 0),
    "euler_sd1_linspace": (EulerDiscreteScheduler, SIGMA_SD1, 0.0, 0),
    "euler_sd1_trailing": (EulerDiscreteScheduler, dict(SIGMA_SD1, timestep_spacing="trailing"), 0.0, 0),
    "euler_defaults": (EulerDiscreteScheduler, {}, 0.0, 0),
    "euler_karras_leading": (EulerDiscreteScheduler, dict(SIGMA_SD1, timestep_spacing="leading", use_karras_sigmas=True), 0.0, 0),
    "euler_karras_linspace": (EulerDiscreteScheduler, dict(SIGMA_SD1, use_karras_sigmas=True), 0.0, 0),
    "euler_karras_bounds": (EulerDiscreteScheduler, dict(SIGMA_SD1, use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0), 0.0, 0),
    "euler_vpred": (EulerDiscreteScheduler, dict(SIGMA_SD1, prediction_type="v_prediction"), 0.0, 0),
    "euler_sample_pred": (EulerDiscreteScheduler, dict(SIGMA_SD1, prediction_type="sample"), 0.0, 0),
    "euler_sigma_min_final": (EulerDiscreteScheduler, dict(SIGMA_SD1, final_sigmas_type="sigma_min"), 0.0, 0),
    "euler_zero_snr_vpred": (EulerDiscreteScheduler, dict(SIGMA_SD1, rescale_betas_zero_snr=True, timestep_spacing="trailing",
                                                          prediction_type="v_prediction"), 0.0, 0),
    "euler_a_sd1_leading": (EulerAncestralDiscreteScheduler, dict(SIGMA_SD1, timestep_spacing="leading"), 0.0, 11),
    "euler_a_sd1_linspace": (EulerAncestralDiscreteScheduler, SIGMA_SD1, 0.0, 12),
    "euler_a_trailing_vpred": (EulerAncestralDiscreteScheduler, dict(SIGMA_SD1, timestep_spacing="trailing",
                                                                     prediction_type="v_prediction"), 0.0, 13),
    "euler_a_defaults": (EulerAncestralDiscreteScheduler, {}, 0.0, 14),
    "dpm_sd1": (DPMSolverMultistepScheduler, SIGMA_SD1, 0.0, 0),
    "dpm_sd1_leading": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, timestep_spacing="leading"), 0.0, 0),
    "dpm_sd1_trailing": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, timestep_spacing="trailing"), 0.0, 0),
    "dpm_defaults": (DPMSolverMultistepScheduler, {}, 0.0, 0),
    "dpm_karras": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, use_karras_sigmas=True), 0.0, 0),
    "dpm_karras_leading": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, use_karras_sigmas=True, timestep_spacing="leading"), 0.0, 0),
    "dpm_vpred": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, prediction_type="v_prediction"), 0.0, 0),
    "dpm_sample_pred": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, prediction_type="sample"), 0.0, 0),
    "dpm_heun": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, solver_type="heun"), 0.0, 0),
    "dpm_order1": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, solver_order=1), 0.0, 0),
    "dpm_cosine_karras": (DPMSolverMultistepScheduler, dict(beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True), 0.0, 0),
    "dpm_zero_snr_vpred": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, rescale_betas_zero_snr=True, timestep_spacing="trailing",
                                                             prediction_type="v_prediction"), 0.0, 0),
}
# The variants from here on share the schedules above, so they store no alphas_cumprod, and their
# chains run on smaller samples (batch 2 still checks the order of the ancestral noise draws).
ADDED_SHAPE = (2, 2, 2, 4)
# Chains longer than 10 steps: DPM-Solver takes second-order steps to the end from 15 steps on.
CHAIN_STEPS = {
    "dpm_sigma_min_20": 20, "dpm_karras_20": 20, "euler_a_20": 20,
}
VARIANTS.update({
    "dpm_sigma_min_20": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, final_sigmas_type="sigma_min"), 0.0, 0),
    "dpm_karras_20": (DPMSolverMultistepScheduler, dict(SIGMA_SD1, use_karras_sigmas=True, lower_order_final=False), 0.0, 0),
    "euler_a_20": (EulerAncestralDiscreteScheduler, dict(SIGMA_SD1, timestep_spacing="leading"), 0.0, 15),
})
ADDED = set(list(VARIANTS)[list(VARIANTS).index("pndm_sd1"):])


def main():
    tensors, metadata = {}, {"variants": ",".join(VARIANTS)}
    data_gen = torch.Generator().manual_seed(2024)
    for name, (cls, config, eta, seed) in VARIANTS.items():
        sched = cls(**config)
        added = name in ADDED
        if not added:
            tensors[f"{name}.alphas_cumprod"] = sched.alphas_cumprod.to(torch.float32).clone()
        shape = ADDED_SHAPE if added else SHAPE
        steps = CHAIN_STEPS.get(name, 10)
        sigma_based = cls in SIGMA_CLASSES
        for n in (50, 10, steps):  # the chain's step count last
            sched.set_timesteps(n)
            tensors[f"{name}.timesteps{n}"] = sched.timesteps.to(torch.float32).clone()
            if sigma_based:
                tensors[f"{name}.sigmas{n}"] = sched.sigmas.to(torch.float32).clone()
        sample = torch.randn(shape, generator=data_gen)
        # PNDM takes steps + 1 model evaluations; the others one per step.
        outputs = torch.randn((len(sched.timesteps),) + shape, generator=data_gen)
        tensors[f"{name}.sample0"] = sample.clone()
        generator = torch.Generator().manual_seed(seed)
        prev, scaled = [], []
        if sigma_based:
            # Steps counted from the first, as the Swift samplers address them (diffusers would start a
            # run whose first timestep repeats, e.g. cosine with Karras sigmas, at its second copy).
            sched.set_begin_index(0)
        for i, t in enumerate(sched.timesteps):
            if cls is DDIMScheduler:
                sample = sched.step(outputs[i], int(t), sample, eta=eta, generator=generator).prev_sample
            elif sigma_based:
                scaled.append(sched.scale_model_input(sample, t))
                sample = sched.step(outputs[i], t, sample, generator=generator).prev_sample
            elif cls is PNDMScheduler:
                sample = sched.step(outputs[i], int(t), sample).prev_sample
            else:
                sample = sched.step(outputs[i], int(t), sample, generator=generator).prev_sample
            prev.append(sample)
        tensors[f"{name}.model_outputs"] = outputs
        tensors[f"{name}.prev_samples"] = torch.stack(prev)
        if sigma_based:
            tensors[f"{name}.init_noise_sigma"] = torch.tensor([float(sched.init_noise_sigma)], dtype=torch.float32)
            tensors[f"{name}.scaled_inputs"] = torch.stack(scaled)
        metadata[f"{name}.steps"] = str(steps)
        metadata[f"{name}.class"] = cls.__name__
        metadata[f"{name}.config"] = json.dumps(config)
        metadata[f"{name}.eta"] = repr(eta)
        metadata[f"{name}.seed"] = str(seed)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, OUT, metadata=metadata)
    print(OUT, os.path.getsize(OUT), "bytes,", len(VARIANTS), "variants")


PIPELINE_CASES = {
    # name: sampler name in sepme, diffusers class, extra config, prompt, seed, steps, guidance
    "euler_a": dict(sampler="euler-a", cls="EulerAncestralDiscreteScheduler", config={}, prompt="a red circle",
                    seed=21, steps=4, guidance=7.5),
    "euler": dict(sampler="euler", cls="EulerDiscreteScheduler", config={}, prompt="a striped blue star",
                  seed=22, steps=4, guidance=5.0),
    "euler_karras": dict(sampler="euler-karras", cls="EulerDiscreteScheduler", config=dict(use_karras_sigmas=True),
                         prompt="a heart in dotted style", seed=23, steps=4, guidance=7.5),
    "dpmpp_2m": dict(sampler="dpm++2m", cls="DPMSolverMultistepScheduler", config={}, prompt="a yellow cross",
                     seed=24, steps=5, guidance=7.5),
    "dpmpp_2m_karras": dict(sampler="dpm++2m-karras", cls="DPMSolverMultistepScheduler",
                            config=dict(use_karras_sigmas=True), prompt="an orange triangle", seed=25, steps=5, guidance=4.0),
}


def pipelines():
    import diffusers
    from diffusers import StableDiffusionPipeline
    folder = os.path.join(RESOURCES, "pipeline", "tiny-sd")
    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    folder_config = pipe.scheduler.config
    tensors = {}
    for name, c in PIPELINE_CASES.items():
        pipe.scheduler = getattr(diffusers, c["cls"]).from_config(folder_config, **c["config"])
        steps = []

        def record(p, i, t, kwargs):
            steps.append(kwargs["latents"].clone())
            return kwargs

        g = torch.Generator("cpu").manual_seed(c["seed"])
        with torch.no_grad():
            pipe(c["prompt"], num_inference_steps=c["steps"], guidance_scale=c["guidance"], generator=g,
                 output_type="latent", callback_on_step_end=record)
        tensors[f"{name}.latents"] = torch.stack(steps).contiguous()
    save_file(tensors, PIPELINE_OUT, metadata={"cases": json.dumps(PIPELINE_CASES)})
    print(PIPELINE_OUT, os.path.getsize(PIPELINE_OUT), "bytes,", len(PIPELINE_CASES), "cases")


if __name__ == "__main__":
    main()
    pipelines()
