import TensorEngine

/// Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`, the "Euler a" of A1111 and
/// ComfyUI), following diffusers `scheduling_euler_ancestral_discrete.py`: each step goes by Euler
/// down to σ_down, then adds fresh noise of standard deviation σ_up, where σ_up² + σ_down² = σ_next²
/// and σ_up² = σ_next² (σ² − σ_next²) / σ² (the DDPM posterior's noise share, Song et al. 2021 η = 1).
/// The noise is one `randn(model_output.shape, generator)` per step, the last included, so a seeded
/// run matches diffusers.
public final class EulerAncestralDiscreteScheduler: Scheduler {
    public let configuration: SchedulerConfiguration
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Float] = []
    /// Noise level of each step and the final 0: `timesteps.count + 1` values.
    public private(set) var sigmas: [Float] = []
    public private(set) var initNoiseSigma: Float = 1

    public init(_ configuration: SchedulerConfiguration) throws {
        let name = "EulerAncestralDiscreteScheduler"
        try SigmaSchedule.checkTrainTimesteps(configuration, sampler: name)
        // diffusers raises NotImplementedError for a sample-predicting model.
        guard configuration.predictionType != .sample else {
            throw SchedulerError.invalidConfig(
                name, "prediction_type sample is not supported by Euler ancestral (as in diffusers); use epsilon or v_prediction")
        }
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
        initNoiseSigma = SigmaSchedule.eulerInitNoiseSigma(
            SigmaSchedule.trainingSigmas(configuration, schedule: schedule), spacing: configuration.timestepSpacing)
    }

    public func setTimesteps(_ steps: Int) throws {
        // diffusers' Euler ancestral has no Karras option and always ends at σ = 0.
        (timesteps, sigmas) = try SigmaSchedule.eulerRun(configuration, schedule: schedule, steps: steps, karras: false, finalSigma: .zero)
        initNoiseSigma = SigmaSchedule.eulerInitNoiseSigma(sigmas, spacing: configuration.timestepSpacing)
    }

    // sample: [B, C, H, W] -> [B, C, H, W]
    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        SigmaSchedule.scaledModelInput(sample, sigma: sigmas[stepIndex])
    }

    // modelOutput, sample: [B, C, H, W]
    public func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor {
        let sigma = sigmas[stepIndex]
        let next = sigmas[stepIndex + 1]
        // `sample` prediction is refused when the scheduler is made, as diffusers does.
        let denoised = SigmaSchedule.denoised(
            modelOutput: modelOutput, sample: sample, sigma: sigma, prediction: configuration.predictionType)
        let sigmaUp = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
        // σ_next² − σ_up² is σ_next⁴ / σ² ≥ 0; float32 rounding must not make it negative.
        let sigmaDown = max(next * next - sigmaUp * sigmaUp, 0).squareRoot()
        let derivative = (sample - denoised) / sigma
        let deterministic = sample + derivative * (sigmaDown - sigma)
        let noise = Tensor.randn(modelOutput.shape, generator: &generator)
        return deterministic + noise * sigmaUp
    }
}
