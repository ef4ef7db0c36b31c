import TensorEngine

/// DDIM (Song et al. 2021, eq. 12), following diffusers `scheduling_ddim.py` step by step.
public final class DDIMScheduler: DiscreteTimestepScheduler {
    public let configuration: SchedulerConfiguration
    public let schedule: NoiseSchedule
    public private(set) var discreteTimesteps: [Int] = []
    /// η: 0 is deterministic DDIM, 1 is DDPM-like ancestral noise.
    public let eta: Float
    private let finalAlphaCumprod: Float
    private var stepCount = 0

    public init(_ configuration: SchedulerConfiguration, eta: Float = 0) {
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
        self.eta = eta
        finalAlphaCumprod = configuration.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
    }

    public func setTimesteps(_ steps: Int) throws {
        discreteTimesteps = try configuration.spacedTimesteps(steps)
        stepCount = steps
    }

    // modelOutput, sample: [B, C, H, W]
    public func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor {
        let timestep = discreteTimesteps[stepIndex]
        // 1. previous timestep
        let prev = timestep - configuration.numTrainTimesteps / max(stepCount, 1)
        // 2. alphas and betas
        let alphaProd = schedule.alphasCumprod[timestep]
        let alphaProdPrev = prev >= 0 ? schedule.alphasCumprod[prev] : finalAlphaCumprod
        let betaProd = 1 - alphaProd
        // 3. predicted x_0 and ε (eq. 12 "predicted x_0")
        var (x0, eps) = predictOriginal(modelOutput, sample: sample, alphaProd: alphaProd)
        // 4. clip
        if configuration.clipSample ?? true {
            let r = Float(configuration.clipSampleRange)
            x0 = x0.clamp(min: -r, max: r)
        }
        // 5. σ_t(η) (eq. 16)
        let variance = ((1 - alphaProdPrev) / betaProd) * (1 - alphaProd / alphaProdPrev)
        let std = eta * variance.squareRoot()
        // 6. direction pointing to x_t, 7. x_{t-1} (eq. 12)
        let direction = eps * (1 - alphaProdPrev - std * std).squareRoot()
        var prevSample = x0 * alphaProdPrev.squareRoot() + direction
        if eta > 0 {
            let noise = Tensor.randn(modelOutput.shape, generator: &generator)
            prevSample = prevSample + noise * std
        }
        return prevSample
    }
}
