import ArgumentParser
import ConceptErasure

/// The flags of UCE's settings (`erase --method uce`); the defaults are those of the authors'
/// script (`UCEOptions`). Given with another method they reach the plan, which refuses them.
struct UCEFlags: ParsableArguments {
    @Option(help: "uce: the prompt an erased concept is moved to (default: the blank prompt).") var guide: String?
    @Option(help: "uce: a prompt the edit keeps (repeatable; default: the blank prompt).") var preserve: [String] = []
    @Option(name: .customLong("uce-lambda"), help: "uce: weight of the original weights, lambda (default \(UCEOptions().lambda)).")
    var lambda: Double?
    @Option(help: "uce: weight of the erased concept's tokens (default \(UCEOptions().eraseScale)).") var eraseScale: Double?
    @Option(help: "uce: weight of the preserved prompts' tokens (default \(UCEOptions().preserveScale)).") var preserveScale: Double?

    /// The settings for the plan: nil when `method` is not uce and no UCE flag is given.
    func options(method: ErasureMethodKind) -> UCEOptions? {
        let given = guide != nil || !preserve.isEmpty || lambda != nil || eraseScale != nil || preserveScale != nil
        guard method == .uce || given else { return nil }
        var o = UCEOptions()
        if let guide { o.guide = guide }
        o.preserve = preserve
        if let lambda { o.lambda = lambda }
        if let eraseScale { o.eraseScale = eraseScale }
        if let preserveScale { o.preserveScale = preserveScale }
        return o
    }

    /// Setting key → flag, for `ErasureFlags.mapping`.
    static let flags: [String: String] = [
        UCEOptions.guideKey: "--guide", UCEOptions.preserveKey: "--preserve", UCEOptions.lambdaKey: "--uce-lambda",
        UCEOptions.eraseScaleKey: "--erase-scale", UCEOptions.preserveScaleKey: "--preserve-scale",
        "uce": "--guide/--preserve/--uce-lambda/--erase-scale/--preserve-scale"
    ]
}
