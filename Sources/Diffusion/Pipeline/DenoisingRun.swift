import TensorEngine

/// One sampling run, advanced one scheduler step at a time (training code may stop at any step).
/// Follows the loop of diffusers' StableDiffusionPipeline.__call__ (steps 5-7).
public final class DenoisingRun {
    public let scheduler: Scheduler
    /// Current latents x_t: [B, C, h, w].
    public private(set) var latents: Tensor
    /// Text conditioning: [B, L, D]; unconditional: [B, L, D] when guidance is on.
    public let conditioning: Tensor
    public let unconditional: Tensor?
    public let guidance: Float
    public private(set) var stepIndex = 0
    var generator: PyTorchGenerator
    /// ε for latents [B, C, h, w] at a timestep under contexts [k·B, L, D] (k per latent) -> [k·B, C, h, w].
    private let denoiser: (Tensor, Float, Tensor) -> Tensor

    init(
        scheduler: Scheduler, latents: Tensor, conditioning: Tensor, unconditional: Tensor?, guidance: Float,
        generator: PyTorchGenerator, denoiser: @escaping (Tensor, Float, Tensor) -> Tensor
    ) {
        self.scheduler = scheduler
        self.latents = latents
        self.conditioning = conditioning
        self.unconditional = unconditional
        self.guidance = guidance
        self.generator = generator
        self.denoiser = denoiser
    }

    /// The UNet's timestep at each step (fractional for some samplers, e.g. Euler's linspace spacing).
    public var timesteps: [Float] { scheduler.timesteps }
    public var isFinished: Bool { stepIndex >= scheduler.timesteps.count }
    /// The timestep the next `step()` will denoise.
    public var currentTimestep: Float? { isFinished ? nil : scheduler.timesteps[stepIndex] }

    /// ε̂(x_t, t) with classifier-free guidance: ε_u + g (ε_c − ε_u), both halves in one batched call
    /// (x_t once, two contexts per latent: the denoiser shares what does not read the text).
    /// `x` is the UNet input: the latents after the scheduler's `scaleModelInput`.
    // latents: [B, C, h, w] -> [B, C, h, w]
    public func guidedNoisePrediction(_ x: Tensor, timestep t: Float) -> Tensor {
        guard let unconditional else { return denoiser(x, t, conditioning) }
        let both = denoiser(x, t, Tensor.concat([unconditional, conditioning], axis: 0))
        let halves = both.chunked(2, axis: 0)
        return halves[0] + (halves[1] - halves[0]) * guidance
    }

    /// Runs one denoising step; returns false when the run had already finished.
    @discardableResult
    public func step() -> Bool {
        guard let t = currentTimestep else { return false }
        // The model input is scaled per step (σ-based samplers: 1 / sqrt(σ² + 1)); the step itself
        // advances the unscaled latents, as diffusers' StableDiffusionPipeline loop.
        let input = scheduler.scaleModelInput(latents, stepIndex: stepIndex)
        let noise = GradMode.withNoGrad { guidedNoisePrediction(input, timestep: t) }
        latents = scheduler.step(modelOutput: noise, stepIndex: stepIndex, sample: latents, generator: &generator)
        stepIndex += 1
        return true
    }

    /// Runs the remaining steps, reporting (done, total) after each.
    public func run(progress: ((Int, Int) -> Void)? = nil) {
        while step() { progress?(stepIndex, timesteps.count) }
    }

    /// Whether every latent value is a finite number.
    public var latentsAreFinite: Bool { latents.isFinite }

    /// Runs the remaining steps like `run`, checking the latents after each: NaN or an infinity
    /// throws `PipelineError.nonFiniteLatents` naming the step instead of passing on.
    public func runChecked(progress: ((Int, Int) -> Void)? = nil) throws {
        while let t = currentTimestep {
            step()
            guard latentsAreFinite else {
                throw PipelineError.nonFiniteLatents(step: stepIndex, steps: timesteps.count, timestep: t)
            }
            progress?(stepIndex, timesteps.count)
        }
    }
}
