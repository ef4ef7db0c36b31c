/// The settings of UCE (Gandikota et al., "Unified Concept Editing in Diffusion Models", WACV 2024),
/// with the defaults of the authors' command-line entry point (`train-scripts/train_erase.py`):
/// technique `replace`, λ 0.5, erase scale 1, preserve scale 0.1, guide concept "" (the blank
/// prompt). Stored in the plan and in every UCE shift file under the key `uce`.
public struct UCEOptions: Codable, Equatable, Sendable {
    /// The prompt an erased concept's keys and values are moved to (v* = W g); "" for the blank prompt.
    public var guide: String
    /// Prompts whose keys and values the edit keeps (W' k ≈ W k); none: the blank prompt is kept, as
    /// the authors' script does when no preserve concept is given.
    public var preserve: [String]
    /// λ: the weight of the original W in the closed form (the ridge term λ I).
    public var lambda: Double
    /// The weight of the erased concept's rows in the closed form.
    public var eraseScale: Double
    /// The weight of the preserved prompts' rows in the closed form.
    public var preserveScale: Double

    public init(guide: String = "", preserve: [String] = [], lambda: Double = 0.5, eraseScale: Double = 1, preserveScale: Double = 0.1) {
        self.guide = guide
        self.preserve = preserve
        self.lambda = lambda
        self.eraseScale = eraseScale
        self.preserveScale = preserveScale
    }

    enum CodingKeys: String, CodingKey {
        case guide, preserve, lambda
        case eraseScale = "erase_scale"
        case preserveScale = "preserve_scale"
    }

    /// The error keys of the settings: the plan's key `uce`, then the setting's JSON key.
    public static let guideKey = "uce.guide"
    public static let preserveKey = "uce.preserve"
    public static let lambdaKey = "uce.lambda"
    public static let eraseScaleKey = "uce.erase_scale"
    public static let preserveScaleKey = "uce.preserve_scale"

    /// Checks every value against its range; errors name the value by its key (`uce.lambda`, ...).
    /// λ must be positive so that λ I + Σ k kᵀ is invertible whatever the prompts.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Double, _ allowed: String) throws {
            guard ok else { throw ErasureError.outOfRange(key: key, value: "\(value)", allowed: allowed) }
        }
        try check(lambda.isFinite && lambda > 0 && lambda <= 1e6, Self.lambdaKey, lambda, "(0, 1e6]")
        try check(eraseScale.isFinite && eraseScale >= 0 && eraseScale <= 1e6, Self.eraseScaleKey, eraseScale, "[0, 1e6]")
        try check(preserveScale.isFinite && preserveScale >= 0 && preserveScale <= 1e6, Self.preserveScaleKey, preserveScale, "[0, 1e6]")
    }

    /// The key and name of the first setting that differs from the defaults (for a plan whose
    /// method has no such setting); `uce` when all are the defaults.
    var firstChangedSetting: (key: String, name: String) {
        let d = UCEOptions()
        if !preserve.isEmpty { return (Self.preserveKey, "preserve set") }
        if guide != d.guide { return (Self.guideKey, "guide prompt") }
        if lambda != d.lambda { return (Self.lambdaKey, "UCE lambda") }
        if eraseScale != d.eraseScale { return (Self.eraseScaleKey, "erase scale") }
        if preserveScale != d.preserveScale { return (Self.preserveScaleKey, "preserve scale") }
        return ("uce", "UCE settings")
    }
}
