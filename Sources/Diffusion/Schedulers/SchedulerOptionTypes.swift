/// The string-valued options of diffusers' `scheduler_config.json` as enums. Each decodes the exact
/// diffusers string and refuses any other value with a `DecodingError` at its key listing the accepted
/// ones (`SchedulerConfiguration.load` reports it with the file).
public protocol SchedulerOption: DiffusersConfigValue {}

/// What the UNet predicts (diffusers `prediction_type`): the noise ε, the velocity v (Salimans & Ho
/// 2022, §4), or the clean sample x_0.
public enum PredictionType: String, SchedulerOption {
    case epsilon
    case vPrediction = "v_prediction"
    case sample
}

/// How betas are laid out over the training timesteps (diffusers `beta_schedule`); `trained_betas`
/// overrides it.
public enum BetaSchedule: String, SchedulerOption {
    case linear
    case scaledLinear = "scaled_linear"
    /// Nichol & Dhariwal 2021, eq. 17 (diffusers `betas_for_alpha_bar`, max beta 0.999).
    case squaredCosCapV2 = "squaredcos_cap_v2"
}

/// How inference timesteps are picked (Lin et al. 2023, Table 2; diffusers `timestep_spacing`).
public enum TimestepSpacing: String, SchedulerOption {
    case leading, trailing, linspace
}

/// DDPM's posterior variance choice (diffusers `variance_type`). `learned` / `learned_range` need a
/// UNet that predicts the variance; diffusers' `fixed_large_log` takes the square root of a logarithm
/// (a NaN noise scale): all three are refused.
public enum VarianceType: String, SchedulerOption {
    case fixedSmall = "fixed_small"
    case fixedSmallLog = "fixed_small_log"
    case fixedLarge = "fixed_large"
}

/// The sigma that ends the sampling run of the sigma-based samplers (diffusers `final_sigmas_type`):
/// 0 (a fully denoised last step) or the smallest training sigma.
public enum FinalSigmasType: String, SchedulerOption {
    case zero
    case sigmaMin = "sigma_min"
}

/// How EulerDiscreteScheduler places the inference sigmas between training sigmas (diffusers
/// `interpolation_type`); only `linear` is implemented, `log_linear` is refused.
public enum SigmaInterpolation: String, SchedulerOption {
    case linear
    case logLinear = "log_linear"
}

/// EulerDiscreteScheduler's timestep input to the UNet (diffusers `timestep_type`): the training
/// timestep, or 0.25 log σ (continuous, with v-prediction only; refused).
public enum TimestepType: String, SchedulerOption {
    case discrete, continuous
}

/// DPM-Solver variant (diffusers `algorithm_type`): Lu et al. 2022a (`dpmsolver`, noise prediction),
/// Lu et al. 2022b (`dpmsolver++`, data prediction) and their SDE forms. sepme samples with
/// `dpmsolver++`; the others are read and refused when a DPM-Solver sampler is built.
public enum DPMSolverAlgorithm: String, SchedulerOption {
    case dpmsolver
    case dpmsolverPlusPlus = "dpmsolver++"
    case sdeDpmsolver = "sde-dpmsolver"
    case sdeDpmsolverPlusPlus = "sde-dpmsolver++"
}

/// The second-order term of multistep DPM-Solver (diffusers `solver_type`; Lu et al. 2022b, §4 and
/// Appendix B): the midpoint or the Heun form of the same correction.
public enum DPMSolverType: String, SchedulerOption {
    case midpoint, heun
}
