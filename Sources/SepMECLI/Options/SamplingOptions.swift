import ArgumentParser
import Diffusion

/// The per-command defaults of `SamplingOptions` (flags are a contract: each command keeps its own).
protocol SamplingDefaults {
    static var steps: Int { get }
    static var guidance: Float { get }
}

/// `generate`: diffusers' defaults (50 steps, guidance 7.5).
enum StableDiffusionSamplingDefaults: SamplingDefaults {
    static let steps = 50
    static let guidance: Float = 7.5
}

/// `eval` and `demo` on the toy testbed (20 steps, guidance 4).
enum ToySamplingDefaults: SamplingDefaults {
    static let steps = 20
    static let guidance: Float = 4
}

/// How images are sampled. Provides: `--steps` (1...`maxSteps`), `--guidance` (finite, 0...`maxGuidance`;
/// values <= 1 turn classifier-free guidance off, as diffusers' `guidance_scale > 1` test),
/// `--scheduler` (a `SamplerKind` name, listed in --help; default the model folder's). Defaults come from `Defaults`.
/// The seed is a separate group (`SeedOption`): not every sampling command takes one.
struct SamplingOptions<Defaults: SamplingDefaults>: ParsableArguments {
    /// Upper bound on --steps before the model is read (the model's training timesteps bound it further).
    static var maxSteps: Int { 10_000 }
    /// Upper bound on --guidance: the pipeline's (`GenerationOptions.maximumGuidance`).
    static var maxGuidance: Float { GenerationOptions.maximumGuidance }

    @Option(help: "Denoising steps.") var steps: Int = Defaults.steps
    @Option(help: "Classifier-free guidance scale; 1 or less turns guidance off.") var guidance: Float = Defaults.guidance
    @Option(help: "Sampler (default: the model folder's scheduler).") var scheduler: SamplerKind?

    func validate() throws {
        try FlagCheck.range("--steps", steps, 1...Self.maxSteps)
        try FlagCheck.finite("--guidance", guidance, 0...Self.maxGuidance)
    }
}

/// Provides: `--seed` (default 0), the seed of torch.Generator('cpu').manual_seed(seed).
struct SeedOption: ParsableArguments {
    @Option(help: "Seed of torch.Generator('cpu').manual_seed(seed).") var seed: UInt64 = 0
}
