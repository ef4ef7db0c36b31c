import Foundation

/// The settings of CA, concept ablation (Kumari et al., "Ablating Concepts in Text-to-Image
/// Diffusion Models", ICCV 2023), model-based variant on the cross-attention K/V weights (the
/// authors' `diffusers/train.py`, `--parameter_group cross-attn`, `--loss_type_reverse
/// model-based`). The anchor has no default; the others follow the authors' style and object
/// commands (`--learning_rate 2e-6 --scale_lr`, batch 4 on 2 GPUs, 100 steps; `--num_class_images`
/// 200): sepme takes one image per iteration, so 800 iterations at 2e-6 see the same 800 images
/// and allow the same total step (Adam moves a weight by about the learning rate per step) as
/// 100 steps at the scaled 1.6e-5. Stored in the plan and in every CA shift file under the key `ca`.
public struct CAOptions: Codable, Equatable, Sendable {
    /// The prompt the concept is ablated to, e.g. "a circle" for "a striped circle"; "" for the blank prompt.
    public var anchor: String
    /// Adam's learning rate.
    public var learningRate: Double
    /// Training iterations per concept, one anchor image each.
    public var iterations: Int
    /// Images the original model generates from the anchor prompts, cycled over the iterations.
    public var images: Int

    public init(anchor: String, learningRate: Double = 2e-6, iterations: Int = 800, images: Int = 200) {
        self.anchor = anchor
        self.learningRate = learningRate
        self.iterations = iterations
        self.images = images
    }

    enum CodingKeys: String, CodingKey {
        case anchor
        case learningRate = "lr"
        case iterations, images
    }

    /// The plan's and the shift metadata's key of these settings.
    public static let planKey = "ca"
    /// The error keys of the settings: the plan's key `ca`, then the setting's JSON key.
    public static let anchorKey = "ca.anchor"
    public static let learningRateKey = "ca.lr"
    public static let iterationsKey = "ca.iterations"
    public static let imagesKey = "ca.images"

    /// Checks every value against its range; errors name the value by its key (`ca.lr`, ...).
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ allowed: String) throws {
            guard ok else { throw ErasureError.outOfRange(key: key, value: "\(value)", allowed: allowed) }
        }
        try check(learningRate.isFinite && learningRate > 0 && learningRate <= 100, Self.learningRateKey, learningRate, "(0, 100]")
        let limit = ErasureHyperparameters.iterationLimit
        try check((1...limit).contains(iterations), Self.iterationsKey, iterations, "1...\(limit)")
        let imageLimit = ErasureHyperparameters.imageLimit
        try check((1...imageLimit).contains(images), Self.imagesKey, images, "1...\(imageLimit) (zero images leave nothing to train on)")
    }

    /// The anchor of one wording of a concept: the wording with every occurrence of the concept
    /// prompt's text (any case) replaced by the anchor when it contains that text, else the anchor
    /// itself; runs of spaces collapsed and the ends trimmed. With the concept "striped" and the
    /// anchor "", "a striped circle" is ablated to "a circle" and "striped" to the blank prompt.
    public func anchor(ofWording wording: String, concept: String) -> String {
        let needle = concept.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !needle.isEmpty, wording.range(of: needle, options: .caseInsensitive) != nil else {
            return Self.tidy(anchor)
        }
        return Self.tidy(wording.replacingOccurrences(of: needle, with: anchor, options: .caseInsensitive))
    }

    /// Single spaces between words, no spaces at the ends.
    private static func tidy(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    /// The same settings with the iteration count cleared: what a resumed run must match (its
    /// iteration budget may grow).
    var withoutIterationBudget: CAOptions {
        var o = self
        o.iterations = 0
        return o
    }
}
