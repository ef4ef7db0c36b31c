import Diffusion
/// Every hyper-parameter of SepME / SRS-ME, with the paper's defaults (method.md §2; the reference
/// code's own defaults differ: beta 1e-2, lambda 1e-5, tau 5e-5). Stored in every shift file.
public struct ErasureHyperparameters: Codable, Equatable, Sendable {
    /// Adam learning rate (paper: 0.1; the `full` variant uses 1e-5).
    public var learningRate: Double = 0.1
    /// Momentum of the stopping statistic.
    public var alpha: Double = 0.9
    /// Scale of every shift: dW = beta * A * S.
    public var beta: Double = 1e-4
    /// Weight of the L1 regulariser averaged over layers.
    public var lambda: Double = 1e-6
    /// Stop threshold of the momentum statistic.
    public var tau: Double = 1e-4
    public var maxIterations: Int = 1000
    public var minIterations: Int = 10
    /// nil: exact null space; a value: singular values below tolerance * sigma_max count as zero.
    public var nullSpaceTolerance: Double?
    /// Training images generated per concept, cycled over the iterations (method.md §2; the
    /// default comes from the training-images study in docs/toy-model.md).
    public var images: Int = 64
    /// Sampling steps and guidance used to generate the training images.
    public var generationSteps: Int = 20
    public var generationGuidance: Double = 7.5
    /// Sampler of the training images; nil: the model folder's.
    public var generationScheduler: SamplerKind?
    /// Seed of image generation and of the training loop's timesteps and noise.
    public var seed: UInt64 = 0
    /// Side in pixels of the square images the concept is learned on, below the model's native size
    /// to save CPU time (`erase --train-size`); nil: the model's default size. The latents, and so
    /// the UNet's spatial work per iteration, shrink with it; the K/V shift itself has no size.
    public var trainSize: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case learningRate = "lr"
        case alpha, beta, lambda, tau
        case maxIterations = "max_iterations"
        case minIterations = "min_iterations"
        case nullSpaceTolerance = "tolerance"
        case images
        case generationSteps = "generation_steps"
        case generationGuidance = "generation_guidance"
        case generationScheduler = "generation_scheduler"
        case seed
        case trainSize = "train_size"
    }

    /// Checks every value against its allowed range; the error names the value by its JSON key
    /// (the CLI maps keys to its flags).
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ allowed: String) throws {
            guard ok else { throw ErasureError.outOfRange(key: key, value: "\(value)", allowed: allowed) }
        }
        try check(learningRate.isFinite && learningRate > 0 && learningRate <= 100, "lr", learningRate, "(0, 100]")
        try check(alpha >= 0 && alpha < 1, "alpha", alpha, "[0, 1)")
        try check(beta.isFinite && beta > 0 && beta <= 1, "beta", beta, "(0, 1]")
        try check(lambda.isFinite && lambda >= 0, "lambda", lambda, "a finite value >= 0")
        try check(tau.isFinite && tau >= 0, "tau", tau, "a finite value >= 0")
        try check((1...Self.iterationLimit).contains(maxIterations), "max_iterations", maxIterations, "1...\(Self.iterationLimit)")
        try check((1...Self.iterationLimit).contains(minIterations), "min_iterations", minIterations, "1...\(Self.iterationLimit)")
        try check((1...Self.imageLimit).contains(images), "images", images, "1...\(Self.imageLimit) (zero images leave nothing to train on)")
        try check((1...Self.generationStepLimit).contains(generationSteps), "generation_steps", generationSteps, "1...\(Self.generationStepLimit)")
        try check(
            generationGuidance.isFinite && generationGuidance >= 0 && generationGuidance <= 1000,
            "generation_guidance", generationGuidance, "[0, 1000]")
        if let t = nullSpaceTolerance { try check(t > 0 && t < 1, "tolerance", t, "(0, 1)") }
        if let s = trainSize {
            try check((1...GenerationOptions.maximumSide).contains(s), "train_size", s, "1...\(GenerationOptions.maximumSide) pixels")
        }
    }

    /// Upper bounds that keep a run within what a machine can finish (and every count within Int).
    public static let iterationLimit = 10_000_000
    public static let imageLimit = 100_000
    public static let generationStepLimit = 10_000

    /// The `GenerationOptions` of one training-image (or x_t) sampling run at `trainSize`.
    public func generation(prompt: String, seed: UInt64 = 0, steps: Int? = nil, guidance: Double? = nil, scheduler: SamplerKind?)
        -> GenerationOptions
    {
        GenerationOptions(
            prompts: [prompt], seed: seed, steps: steps ?? generationSteps, guidance: Float(guidance ?? generationGuidance),
            width: trainSize, height: trainSize, scheduler: scheduler)
    }
}
