/// The settings of ESD-x (Gandikota et al., "Erasing Concepts from Diffusion Models", ICCV 2023),
/// with the defaults of the authors' `train-scripts/train-esd.py`: negative guidance η 1, start
/// guidance 3, learning rate 1e-5, 1000 iterations. The sampling that makes x_t uses the plan's
/// generation steps (the script: 50 DDIM steps) and its generation sampler, DDIM when none is set.
/// Stored in the plan and in every ESD-x shift file under the key `esd_x`.
public struct ESDOptions: Codable, Equatable, Sendable {
    /// η: how far the edited prediction for the concept is pushed against the concept's direction,
    /// target ε*(x_t, "") − η (ε*(x_t, c) − ε*(x_t, "")).
    public var negativeGuidance: Double
    /// The classifier-free guidance of the partial denoising that makes x_t from the concept prompt.
    public var startGuidance: Double
    /// Adam's learning rate.
    public var learningRate: Double
    /// Training iterations per concept (a fixed count: ESD has no stopping rule).
    public var iterations: Int

    public init(negativeGuidance: Double = 1, startGuidance: Double = 3, learningRate: Double = 1e-5, iterations: Int = 1000) {
        self.negativeGuidance = negativeGuidance
        self.startGuidance = startGuidance
        self.learningRate = learningRate
        self.iterations = iterations
    }

    enum CodingKeys: String, CodingKey {
        case negativeGuidance = "negative_guidance"
        case startGuidance = "start_guidance"
        case learningRate = "lr"
        case iterations
    }

    /// The plan's and the shift metadata's key of these settings.
    public static let planKey = "esd_x"
    /// The error keys of the settings: the plan's key `esd_x`, then the setting's JSON key.
    public static let negativeGuidanceKey = "esd_x.negative_guidance"
    public static let startGuidanceKey = "esd_x.start_guidance"
    public static let learningRateKey = "esd_x.lr"
    public static let iterationsKey = "esd_x.iterations"

    /// Checks every value against its range; errors name the value by its key (`esd_x.lr`, ...).
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ allowed: String) throws {
            guard ok else { throw ErasureError.outOfRange(key: key, value: "\(value)", allowed: allowed) }
        }
        try check(
            negativeGuidance.isFinite && negativeGuidance >= 0 && negativeGuidance <= 100, Self.negativeGuidanceKey, negativeGuidance, "[0, 100]")
        try check(startGuidance.isFinite && startGuidance >= 0 && startGuidance <= 1000, Self.startGuidanceKey, startGuidance, "[0, 1000]")
        try check(learningRate.isFinite && learningRate > 0 && learningRate <= 100, Self.learningRateKey, learningRate, "(0, 100]")
        let limit = ErasureHyperparameters.iterationLimit
        try check((1...limit).contains(iterations), Self.iterationsKey, iterations, "1...\(limit)")
    }

    /// The key and name of the first setting that differs from the defaults (for a plan whose
    /// method has no such setting); `esd_x` when all are the defaults.
    var firstChangedSetting: (key: String, name: String) {
        let d = ESDOptions()
        if negativeGuidance != d.negativeGuidance { return (Self.negativeGuidanceKey, "negative guidance") }
        if startGuidance != d.startGuidance { return (Self.startGuidanceKey, "start guidance") }
        if learningRate != d.learningRate { return (Self.learningRateKey, "ESD-x learning rate") }
        if iterations != d.iterations { return (Self.iterationsKey, "ESD-x iteration count") }
        return (Self.planKey, "ESD-x settings")
    }

    /// The same settings with the iteration count cleared: what a resumed run must match (its
    /// iteration budget may grow).
    var withoutIterationBudget: ESDOptions {
        var o = self
        o.iterations = 0
        return o
    }
}
