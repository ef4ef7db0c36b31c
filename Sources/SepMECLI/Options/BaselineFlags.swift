import ArgumentParser
import ConceptErasure

/// The flags of the fine-tuned baselines' own settings (`erase --method esd-x|ca`); absent flags
/// leave the authors' defaults (`ESDOptions`, `CAOptions`). Given with another method they reach
/// the plan, which refuses them. `--lr`, `--max-iterations` and `--images` (EraseCommand's) set the
/// method's own learning rate, iteration count and image count.
struct BaselineFlags: ParsableArguments {
    @Option(help: "ca: the prompt the concept is ablated to, e.g. the concept prompt without its style word (required with ca).")
    var anchor: String?
    @Option(help: "esd-x: negative guidance eta (default \(ESDOptions().negativeGuidance)).") var negativeGuidance: Double?
    @Option(help: "esd-x: guidance of the partial denoising that makes x_t (default \(ESDOptions().startGuidance)).")
    var startGuidance: Double?

    /// ESD-x's settings for the plan: nil when `method` is not esd-x and no ESD-x flag is given.
    func esdOptions(method: ErasureMethodKind, learningRate: Double?, iterations: Int?) -> ESDOptions? {
        guard method == .esdX || negativeGuidance != nil || startGuidance != nil else { return nil }
        var o = ESDOptions()
        if let negativeGuidance { o.negativeGuidance = negativeGuidance }
        if let startGuidance { o.startGuidance = startGuidance }
        if method == .esdX, let learningRate { o.learningRate = learningRate }
        if method == .esdX, let iterations { o.iterations = iterations }
        return o
    }

    /// CA's settings for the plan: nil without `--anchor` (the plan then names the missing anchor
    /// for ca, and has nothing to refuse for the other methods).
    func caOptions(method: ErasureMethodKind, learningRate: Double?, iterations: Int?, images: Int?) -> CAOptions? {
        guard let anchor else { return nil }
        var o = CAOptions(anchor: anchor)
        if method == .ca, let learningRate { o.learningRate = learningRate }
        if method == .ca, let iterations { o.iterations = iterations }
        if method == .ca, let images { o.images = images }
        return o
    }

    /// Setting key → flag, for `ErasureFlags.mapping`.
    static let flags: [String: String] = [
        ESDOptions.negativeGuidanceKey: "--negative-guidance", ESDOptions.startGuidanceKey: "--start-guidance",
        ESDOptions.learningRateKey: "--lr", ESDOptions.iterationsKey: "--max-iterations",
        ESDOptions.planKey: "--negative-guidance/--start-guidance",
        CAOptions.anchorKey: "--anchor", CAOptions.learningRateKey: "--lr", CAOptions.iterationsKey: "--max-iterations",
        CAOptions.imagesKey: "--images", CAOptions.planKey: "--anchor"
    ]
}
