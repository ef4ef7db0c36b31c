import TensorEngine

/// Why training of a concept ended.
public enum StopReason: String, Codable, Sendable {
    /// The momentum statistic reached τ (method.md §2, stop rule).
    case converged
    /// The iteration budget ran out first.
    case maxIterations = "max_iterations"
    /// No iterations: the shift is a closed-form solution (UCE).
    case closedForm = "closed_form"
}

/// The run that produced a shift.
public struct TrainingRecord: Codable, Equatable, Sendable {
    public var iterations: Int
    public var initialLoss: Double?
    public var finalLoss: Double?
    public var finalMomentum: Double?
    public var stopReason: StopReason
    /// Loss every `lossStride` iterations (a compact curve).
    public var lossCurve: [Double]
    public var lossStride: Int
    /// Seconds in the training loop, over every process that worked on it (a resumed run adds its own).
    public var seconds: Double
    /// Seconds spent generating the training images: in this process, or, for images read from the cache,
    /// in the one that made them (recorded in each cached file). 0 for the user's own images, for methods
    /// without training images, and in files written before this field existed.
    public var imageSeconds: Double = 0
    public var trainingImages: Int
    public var imageSeeds: [UInt64]
    /// Precision of the original model's predictions in the loop (`erase --precision`); files written
    /// before this field existed read as fp32.
    public var originalPrecision: String = ComputePrecision.fp32.rawValue

    public init(
        iterations: Int = 0, initialLoss: Double? = nil, finalLoss: Double? = nil, finalMomentum: Double? = nil,
        stopReason: StopReason = .maxIterations, lossCurve: [Double] = [], lossStride: Int = 1, seconds: Double = 0,
        trainingImages: Int = 0, imageSeeds: [UInt64] = [], imageSeconds: Double = 0
    ) {
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
        self.imageSeconds = imageSeconds
    }

    enum CodingKeys: String, CodingKey {
        case iterations
        case initialLoss = "initial_loss"
        case finalLoss = "final_loss"
        case finalMomentum = "final_momentum"
        case stopReason = "stop_reason"
        case lossCurve = "loss_curve"
        case lossStride = "loss_stride"
        case seconds
        case imageSeconds = "image_seconds"
        case trainingImages = "training_images"
        case imageSeeds = "image_seeds"
        case originalPrecision = "original_precision"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iterations = try c.decode(Int.self, forKey: .iterations)
        initialLoss = try c.decodeIfPresent(Double.self, forKey: .initialLoss)
        finalLoss = try c.decodeIfPresent(Double.self, forKey: .finalLoss)
        finalMomentum = try c.decodeIfPresent(Double.self, forKey: .finalMomentum)
        stopReason = try c.decode(StopReason.self, forKey: .stopReason)
        lossCurve = try c.decode([Double].self, forKey: .lossCurve)
        lossStride = try c.decode(Int.self, forKey: .lossStride)
        seconds = try c.decode(Double.self, forKey: .seconds)
        imageSeconds = try c.decodeIfPresent(Double.self, forKey: .imageSeconds) ?? 0
        trainingImages = try c.decode(Int.self, forKey: .trainingImages)
        imageSeeds = try c.decode([UInt64].self, forKey: .imageSeeds)
        let precision = try c.decodeIfPresent(String.self, forKey: .originalPrecision) ?? ComputePrecision.fp32.rawValue
        guard ComputePrecision(rawValue: precision) != nil else {
            throw DecodingError.dataCorruptedError(
                forKey: .originalPrecision, in: c,
                debugDescription: "'\(precision)' is not one of \(ComputePrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        originalPrecision = precision
    }
}
