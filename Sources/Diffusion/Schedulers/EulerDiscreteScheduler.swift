import TensorEngine

/// Euler's method on the probability-flow ODE in σ (Karras et al. 2022, Algorithm 1 without the
/// second-order correction and with S_churn = 0), following diffusers `scheduling_euler_discrete.py`:
/// x_σ is the variance-preserving x_t scaled by sqrt(1 + σ²), so the initial noise is scaled by
/// `initNoiseSigma` and the UNet input by 1 / sqrt(σ² + 1). With `use_karras_sigmas` the noise
/// levels follow Karras et al. eq. 5 (ρ = 7), the sampler A1111 and ComfyUI call "Euler Karras".
public final class EulerDiscreteScheduler: Scheduler {
    public let configuration: SchedulerConfiguration
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Float] = []
    /// Noise level of each step and the final one: `timesteps.count + 1` values.
    public private(set) var sigmas: [Float] = []
    public private(set) var initNoiseSigma: Float = 1

    public init(_ configuration: SchedulerConfiguration) throws {
        let name = "EulerDiscreteScheduler"
        try SigmaSchedule.checkTrainTimesteps(configuration, sampler: name)
        if configuration.useExponentialSigmas || configuration.useBetaSigmas {
            let key = configuration.useExponentialSigmas ? "use_exponential_sigmas" : "use_beta_sigmas"
            throw SchedulerError.invalidConfig(name, "\(key) true is not supported (use_karras_sigmas is)")
        }
        if configuration.interpolationType == .logLinear {
            throw SchedulerError.invalidConfig(name, "interpolation_type log_linear is not supported (linear is)")
        }
        if configuration.timestepType == .continuous && configuration.predictionType == .vPrediction {
            throw SchedulerError.invalidConfig(
                name, "timestep_type continuous with prediction_type v_prediction (0.25 log σ timesteps) is not supported")
        }
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
        // Before set_timesteps diffusers holds all training sigmas; init_noise_sigma is already defined.
        initNoiseSigma = SigmaSchedule.eulerInitNoiseSigma(
            SigmaSchedule.trainingSigmas(configuration, schedule: schedule), spacing: configuration.timestepSpacing)
    }

    public func setTimesteps(_ steps: Int) throws {
        (timesteps, sigmas) = try SigmaSchedule.eulerRun(
            configuration, schedule: schedule, steps: steps, karras: configuration.useKarrasSigmas,
            finalSigma: configuration.finalSigmasType)
        initNoiseSigma = SigmaSchedule.eulerInitNoiseSigma(sigmas, spacing: configuration.timestepSpacing)
    }

    // sample: [B, C, H, W] -> [B, C, H, W]
    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        SigmaSchedule.scaledModelInput(sample, sigma: sigmas[stepIndex])
    }

    // modelOutput, sample: [B, C, H, W]
    public func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor {
        let sigma = sigmas[stepIndex]
        let denoised = SigmaSchedule.denoised(
            modelOutput: modelOutput, sample: sample, sigma: sigma, prediction: configuration.predictionType)
        // dx/dσ = (x − D) / σ (Karras et al. eq. 3 with σ(t) = t), one Euler step to the next σ.
        let derivative = (sample - denoised) / sigma
        return sample + derivative * (sigmas[stepIndex + 1] - sigma)
    }
}
