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

    public init(prompts: [String], negativePrompt: String? = nil, seed: UInt64 = 0, steps: Int = 50,
                guidance: Float = 7.5, width: Int? = nil, height: Int? = nil, scheduler: SamplerKind? = nil,
                eta: Float = 0, imagesPerPrompt: Int = 1) {
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
    case invalidSize(width: Int, height: Int, factor: Int)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .invalidSize(let w, let h, let f):
            return "image size \(w)x\(h) is not divisible by the model's scale factor \(f) (try \(w / f * f)x\(h / f * f))"
        case .invalidArgument(let s): return s
        }
    }
}
