import TensorEngine

/// What to generate: the arguments of diffusers' `StableDiffusionPipeline.__call__` that sepme supports.
public struct GenerationOptions: Sendable {
    public var prompts: [String]
    /// Negative prompt for classifier-free guidance ("" when nil, as diffusers).
    public var negativePrompt: String?
    public var seed: UInt64
    public var steps: Int
    /// Classifier-free guidance scale; 1 (or less) turns guidance off.
    public var guidance: Float
    public var width: Int?
    public var height: Int?
    /// The sampler; nil for the model folder's own scheduler.
    public var scheduler: SamplerKind?
    public var eta: Float
    /// Images per prompt (diffusers' num_images_per_prompt).
    public var imagesPerPrompt: Int
    /// Precision of the gradient-free products of the UNet while denoising and of the VAE decoder
    /// (`PrecisionMode`); the text encoder and the shifts run in fp32 either way.
    public var precision: ComputePrecision
    /// bf16 only: where the bf16 copies of the denoiser's weights are kept (the VAE decoder's are converted
    /// for each product, `decodeToPixels(_:precision:)`). nil converts them for this generation alone; one
    /// cache given to several generations converts them once, on the first (the weights must not change in
    /// between: installing or fusing a shift needs a new cache). A cache of retention
    /// `.copiesReplacingWeights` frees the fp32 weights it converts: the model then runs only in bf16
    /// generations with that cache (what `generate --precision bf16` does).
    public var bf16Weights: BF16WeightCache?

    public init(
        prompts: [String], negativePrompt: String? = nil, seed: UInt64 = 0, steps: Int = 50,
        guidance: Float = 7.5, width: Int? = nil, height: Int? = nil, scheduler: SamplerKind? = nil,
        eta: Float = 0, imagesPerPrompt: Int = 1, precision: ComputePrecision = .fp32,
        bf16Weights: BF16WeightCache? = nil
    ) {
        self.precision = precision
        self.bf16Weights = bf16Weights
        self.prompts = prompts
        self.negativePrompt = negativePrompt
        self.seed = seed
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
        self.scheduler = scheduler
        self.eta = eta
        self.imagesPerPrompt = imagesPerPrompt
    }

    public var usesGuidance: Bool { guidance > 1 }
}

public enum PipelineError: Error, CustomStringConvertible, Equatable {
    /// Width or height not positive, above `maximumSide`, or not a multiple of the scale factor.
    case invalidSize(width: Int, height: Int, factor: Int)
    case invalidArgument(String)
    /// A generation option outside its range: `name` is the option's name in `GenerationOptions`
    /// terms ("guidance", "eta", "imagesPerPrompt"), `allowed` the accepted values.
    case invalidOption(name: String, value: String, allowed: String)
    /// The request would need about `bytes` of memory for latents and activations; the machine has
    /// `physicalMemory`.
    case requestTooLarge(bytes: UInt64, physicalMemory: UInt64, what: String)
    /// The latents stopped being finite after sampling step `step` of `steps` (at `timestep`).
    case nonFiniteLatents(step: Int, steps: Int, timestep: Float)
    /// The decoded image holds NaN or an infinity (the model at `source` diverged while decoding).
    case nonFinitePixels(source: String)

    public var description: String {
        switch self {
        case .invalidSize(let w, let h, let f):
            if w <= 0 || h <= 0 || w > GenerationOptions.maximumSide || h > GenerationOptions.maximumSide {
                return "image size \(w)x\(h): width and height must be between \(f) and \(GenerationOptions.maximumSide / f * f)"
                    + (f > 1 ? " and multiples of the model's scale factor \(f)" : "")
            }
            let suggestion = "\(max(w / f * f, f))x\(max(h / f * f, f))"
            return "image size \(w)x\(h) is not divisible by the model's scale factor \(f) (try \(suggestion))"
        case .invalidArgument(let s): return s
        case .invalidOption(let name, let value, let allowed):
            return "\(name) \(value) is not allowed (expected \(allowed))"
        case .requestTooLarge(let bytes, let memory, let what):
            return "\(what) would need about \(Self.gibibytes(bytes)) of memory for latents and activations; "
                + "this machine has \(Self.gibibytes(memory))"
        case .nonFiniteLatents(let step, let steps, let t):
            return "the latents became NaN or infinite at sampling step \(step) of \(steps) (timestep \(Self.timestepText(t))); "
                + "the model or its scheduler configuration diverges"
        case .nonFinitePixels(let source):
            return "\(source): the VAE decoded NaN or infinite pixels; the model diverges"
        }
    }

    static func gibibytes(_ bytes: UInt64) -> String {
        String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }

    /// "999" for an integral timestep, "974.97" for a fractional one (Euler's linspace spacing).
    static func timestepText(_ t: Float) -> String {
        t == t.rounded() && abs(t) < 1e9 ? String(Int(t)) : String(format: "%.2f", Double(t))
    }
}

extension GenerationOptions {
    /// Largest image side accepted: 16384 pixels (SD 1.x is trained at 512; memory is checked too).
    public static let maximumSide = 16_384
    /// Largest images per prompt and prompts per call: 4096 each (memory is checked too).
    public static let maximumBatch = 4_096
    /// Largest |guidance|: 1000 (useful scales are below 20; beyond this the latents overflow).
    public static let maximumGuidance: Float = 1_000
}
