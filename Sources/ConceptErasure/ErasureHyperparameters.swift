import Diffusion
/// Every hyper-parameter of SepME / SRS-ME, with the paper's defaults (method.md §2; the reference
/// code's own defaults differ: beta 1e-2, lambda 1e-5, tau 5e-5).
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
    /// Training images generated per concept.
    public var images: Int = 8
    /// Sampling steps and guidance used to generate the training images.
    public var generationSteps: Int = 20
    public var generationGuidance: Double = 7.5
    /// Sampler of the training images; nil: the model folder's.
    public var generationScheduler: SamplerKind?
    /// Seed of image generation and of the training loop's timesteps and noise.
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case learningRate = "lr", alpha, beta, lambda, tau
        case maxIterations = "max_iterations", minIterations = "min_iterations"
        case nullSpaceTolerance = "tolerance", images, generationSteps = "generation_steps"
        case generationGuidance = "generation_guidance", generationScheduler = "generation_scheduler", seed
    }

    /// Checks ranges; messages name the CLI flag.
    public func validate() throws {
        func fail(_ s: String) -> ErasureError { .invalidArgument(s) }
        guard learningRate > 0, learningRate.isFinite else { throw fail("--lr must be positive, got \(learningRate)") }
        guard alpha >= 0, alpha < 1 else { throw fail("alpha must be in [0, 1), got \(alpha)") }
        guard beta > 0, beta.isFinite else { throw fail("--beta must be positive, got \(beta)") }
        guard lambda >= 0, lambda.isFinite else { throw fail("--lambda must be non-negative, got \(lambda)") }
        guard tau.isFinite else { throw fail("--tau must be finite, got \(tau)") }
        guard maxIterations >= 1 else { throw fail("--max-iterations must be at least 1, got \(maxIterations)") }
        guard images >= 1 else { throw fail("--images must be at least 1 (zero images leave nothing to train on), got \(images)") }
        if let t = nullSpaceTolerance { guard t > 0, t < 1 else { throw fail("--tolerance must be in (0, 1), got \(t)") } }
    }
}
