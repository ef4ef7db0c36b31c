/// Everything a shift file says about how it was made (stored as JSON in the safetensors metadata).
public struct ShiftMetadata: Codable, Equatable, Sendable {
    public static let currentFormat = "sepme-shift/1"

    public var format: String = ShiftMetadata.currentFormat
    public var method: String = "SRS-ME"
    public var variant: ErasureVariant
    /// The prompt(s) of the erased concept; the first names it.
    public var concepts: [String]
    public var protectedPrompts: [String]
    /// Other concepts (of this request or of existing shift files) this shift leaves unchanged.
    public var decoupledFrom: [String]
    /// Fingerprint of the base model's text encoder and cross-attention weights.
    public var baseFingerprint: String
    public var hyperparameters: ErasureHyperparameters
    public var training: TrainingRecord
    public var nullSpace: NullSpaceReport?
    /// False for the `full` variant: it changes shared weights and cannot be removed independently.
    public var restorable: Bool
    public var toolVersion: String

    public var name: String { concepts.first ?? "" }

    public init(variant: ErasureVariant, concepts: [String], protectedPrompts: [String], decoupledFrom: [String],
                baseFingerprint: String, hyperparameters: ErasureHyperparameters, training: TrainingRecord,
                nullSpace: NullSpaceReport?, restorable: Bool, toolVersion: String) {
        self.variant = variant
        self.concepts = concepts
        self.protectedPrompts = protectedPrompts
        self.decoupledFrom = decoupledFrom
        self.baseFingerprint = baseFingerprint
        self.hyperparameters = hyperparameters
        self.training = training
        self.nullSpace = nullSpace
        self.restorable = restorable
        self.toolVersion = toolVersion
    }

    enum CodingKeys: String, CodingKey {
        case format, method, variant, concepts
        case protectedPrompts = "protected", decoupledFrom = "decoupled_from"
        case baseFingerprint = "base_fingerprint", hyperparameters, training
        case nullSpace = "null_space", restorable, toolVersion = "tool_version"
    }
}

public enum ErasureVariant: String, Codable, CaseIterable, Sendable {
    /// SRS-ME: each concept trained alone (default).
    case separate
    /// SRS-ME†: all concepts at once with η balancing and per-concept freezing.
    case joint
    /// SRS-ME‡: all cross-attention weights fine-tuned; not restorable.
    case full
}

/// The run that produced a shift.
public struct TrainingRecord: Codable, Equatable, Sendable {
    public var iterations: Int
    public var initialLoss: Double?
    public var finalLoss: Double?
    public var finalMomentum: Double?
    /// "converged" (momentum ≤ τ), "max_iterations".
    public var stopReason: String
    /// Loss every `lossStride` iterations (a compact curve).
    public var lossCurve: [Double]
    public var lossStride: Int
    public var seconds: Double
    public var trainingImages: Int
    public var imageSeeds: [UInt64]

    public init(iterations: Int = 0, initialLoss: Double? = nil, finalLoss: Double? = nil, finalMomentum: Double? = nil,
                stopReason: String = "", lossCurve: [Double] = [], lossStride: Int = 1, seconds: Double = 0,
                trainingImages: Int = 0, imageSeeds: [UInt64] = []) {
        self.iterations = iterations
        self.initialLoss = initialLoss
        self.finalLoss = finalLoss
        self.finalMomentum = finalMomentum
        self.stopReason = stopReason
        self.lossCurve = lossCurve
        self.lossStride = lossStride
        self.seconds = seconds
        self.trainingImages = trainingImages
        self.imageSeeds = imageSeeds
    }

    enum CodingKeys: String, CodingKey {
        case iterations, initialLoss = "initial_loss", finalLoss = "final_loss", finalMomentum = "final_momentum"
        case stopReason = "stop_reason", lossCurve = "loss_curve", lossStride = "loss_stride", seconds
        case trainingImages = "training_images", imageSeeds = "image_seeds"
    }
}

/// The decoupling of one concept (method.md §1, §4).
public struct NullSpaceReport: Codable, Equatable, Sendable {
    /// "exact" or "tolerance".
    public var mode: String
    public var tolerance: Double?
    /// Rows of M_k (token embeddings of every prompt the shift must not touch).
    public var rows: Int
    public var rank: Int
    /// m_k: dimension of the basis S_k.
    public var dimension: Int
    /// σ_cut: the largest singular value whose direction was put into the null space (0 when exact).
    public var largestDiscardedSingularValue: Double
    public var largestSingularValue: Double
    /// Bound on |M_k dW^T| (Frobenius) for the trained shift: σ_cut · max_l |dW_l|.
    public var leakBound: Double?

    enum CodingKeys: String, CodingKey {
        case mode, tolerance, rows, rank, dimension
        case largestDiscardedSingularValue = "largest_discarded_singular_value"
        case largestSingularValue = "largest_singular_value", leakBound = "leak_bound"
    }
}
