public enum ErasureVariant: String, Codable, CaseIterable, Sendable {
    /// SRS-ME: each concept trained alone (default).
    case separate
    /// SRS-ME†: all concepts at once with η balancing and per-concept freezing.
    case joint
    /// SRS-ME‡: all cross-attention weights fine-tuned; not restorable.
    case full
}

extension ErasureVariant {
    /// Whether shifts of this variant live in their concept's null space (and are restorable).
    public var isDecoupled: Bool { self != .full }
}

extension ErasureHyperparameters {
    /// The defaults of a variant: the paper's, with the authors' learning rate 1e-5 for `full`
    /// (method.md §3), which fine-tunes dense weights instead of zero-started factors.
    public static func defaults(for variant: ErasureVariant) -> ErasureHyperparameters {
        var h = ErasureHyperparameters()
        if variant == .full { h.learningRate = 1e-5 }
        return h
    }
}
