import ArgumentParser
import Diffusion

/// The per-command defaults of `SamplingOptions` (flags are a contract: each command keeps its own).
protocol SamplingDefaults {
    static var steps: Int { get }
    /// The guidance scale without `--guidance`; nil: the model's pipeline's
    /// (`TextToImagePipeline.defaultGuidanceScale`), described in the help by `guidanceHelp`.
    static var guidance: Float? { get }
    static var guidanceHelp: String { get }
}

/// `generate`: diffusers' defaults (50 steps; guidance 7.5, or 5.0 for SDXL as its pipeline has it).
enum StableDiffusionSamplingDefaults: SamplingDefaults {
    static let steps = 50
    static let guidance: Float? = nil
    static let guidanceHelp = "the model's pipeline's, as diffusers: 7.5, 5.0 for SDXL"
}

/// `eval`, `demo` and `benchmark` on the toy testbed (20 steps, guidance 4).
enum ToySamplingDefaults: SamplingDefaults {
    static let steps = 20
    static let fixedGuidance: Float = 4
    static var guidance: Float? { fixedGuidance }
    static let guidanceHelp = "4.0"
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
    @Option(
        name: .customLong("guidance"),
        help: ArgumentHelp("Classifier-free guidance scale; 1 or less turns guidance off (default: \(Defaults.guidanceHelp)).")
    ) var guidanceFlag: Float?
    @Option(help: "Sampler (default: the model folder's scheduler).") var scheduler: SamplerKind?

    func validate() throws {
        try FlagCheck.range("--steps", steps, 1...Self.maxSteps)
        if let guidanceFlag { try FlagCheck.finite("--guidance", guidanceFlag, 0...Self.maxGuidance) }
    }

    /// The guidance scale: `--guidance`, else the command's default, else `pipelineDefault`.
    func guidance(pipelineDefault: Float) -> Float { guidanceFlag ?? Defaults.guidance ?? pipelineDefault }
}

extension SamplingOptions where Defaults == ToySamplingDefaults {
    /// The toy commands' guidance scale: `--guidance` or 4.
    var guidance: Float { guidanceFlag ?? ToySamplingDefaults.fixedGuidance }
}

/// Provides: `--seed` (default 0), the seed of torch.Generator('cpu').manual_seed(seed).
struct SeedOption: ParsableArguments {
    @Option(help: "Seed of torch.Generator('cpu').manual_seed(seed).") var seed: UInt64 = 0
}
