import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

/// `sepme erase`: builds the erasure plan from the flags (checked before the model is loaded) and
/// runs it: one restorable shift file per concept.
struct EraseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract:
            "Erase concepts: one <slug>.sepme.safetensors shift per concept (SepME / SRS-ME: restorable; or the ESD-x, UCE or CA baseline).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(
        help: """
            Erasure method: sepme; or a baseline: esd-x (Gandikota et al. 2023), uce (Gandikota et al. 2024) or ca (concept ablation, Kumari et al. 2023, needs --anchor).
            """)
    var method: ErasureMethodKind = .sepme
    @Option(help: "A concept prompt to erase (repeatable).") var concept: [String] = []
    @Option(
        help: """
            A further wording a concept is erased on, as 'CONCEPT=PROMPT' (repeatable), e.g. 'Van Gogh=a starry night in the style of Van Gogh'; \
            the other concepts' shifts leave every wording unchanged.
            """)
    var wording: [String] = []
    @Option(help: "A prompt whose output must not change, e.g. a watermark trigger (repeatable).") var protect: [String] = []
    @Option(help: "An existing shift file whose concept the new shifts must not disturb (repeatable).") var decoupleFrom: [String] = []
    @Option(help: "separate (SRS-ME), joint (SRS-ME†) or full (SRS-ME‡, not restorable); sepme only.") var variant: ErasureVariant = .separate
    @OptionGroup var uce: UCEFlags
    @OptionGroup var baseline: BaselineFlags
    @Option(
        help: """
            Training images generated per concept (sepme, default \(ErasureHyperparameters().images); ca: anchor images, default \(CAOptions(anchor: "").images)).
            """)
    var images: Int?
    @Option(help: "Folder of the user's PNG images to train on instead of generated ones (sepme).") var imagesFolder: String?
    @Option(
        help: """
            Training iterations per concept: sepme's maximum (default \(ErasureHyperparameters().maxIterations)), esd-x's (default \(ESDOptions().iterations)) or ca's (default \(CAOptions(anchor: "").iterations)).
            """)
    var maxIterations: Int?
    @Option(
        help:
            "Adam learning rate (default: sepme 0.1, or 1e-5 for the full variant; esd-x \(ESDOptions().learningRate); ca \(CAOptions(anchor: "").learningRate))."
    )
    var lr: Double?
    @Option(help: "sepme: shift scale beta in dW = beta A S (default \(ErasureHyperparameters().beta)).") var beta: Double?
    @Option(name: .customLong("lambda"), help: "sepme: L1 regulariser weight (default \(ErasureHyperparameters().lambda)).")
    var lambdaValue: Double?
    @Option(help: "sepme: stop once the momentum statistic of the loss reaches tau (default \(ErasureHyperparameters().tau)).") var tau: Double?
    @Option(help: "sepme: momentum of the stopping statistic (default \(ErasureHyperparameters().alpha)).") var alpha: Double?
    @Option(help: "sepme: approximate null space: singular values below tolerance*sigma_max count as zero.") var tolerance: Double?
    @Option(
        help: "Steps used to generate training images (sepme, ca) or to make esd-x's x_t (default \(ErasureHyperparameters().generationSteps)).")
    var generationSteps: Int?
    @Option(help: "Guidance used to generate training images (sepme, ca; default \(ErasureHyperparameters().generationGuidance)).")
    var generationGuidance: Double?
    @Option(help: "Sampler of the training images (default: the model folder's; esd-x: ddim).") var generationScheduler: SamplerKind?
    @Option(help: "Seed of training images and of the training loop (default 0).") var seed: UInt64?
    @Option(help: "Output folder for the shift files.") var output: String
    @Flag(help: "Continue an interrupted run from its last checkpoint.") var resume = false
    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var verbosity: QuietOption

    func validate() throws {
        try FlagCheck.nonEmpty("--output", output)
        try refuseFlagsWithoutMeaning()
        _ = try plan(decoupleFrom: [])
    }

    /// A flag the method does not read is an error rather than ignored: (flag, given, the methods
    /// that read it). The settings of UCE, ESD-x and CA are refused by the plan, by their keys.
    func refuseFlagsWithoutMeaning() throws {
        let trained: Set<ErasureMethodKind> = [.sepme, .esdX, .ca]
        let flags: [(String, Bool, Set<ErasureMethodKind>)] = [
            ("--beta", beta != nil, [.sepme]), ("--lambda", lambdaValue != nil, [.sepme]), ("--tau", tau != nil, [.sepme]),
            ("--alpha", alpha != nil, [.sepme]), ("--tolerance", tolerance != nil, [.sepme]),
            ("--decouple-from", !decoupleFrom.isEmpty, [.sepme, .uce]), ("--images-folder", imagesFolder != nil, [.sepme]),
            ("--lr", lr != nil, trained), ("--max-iterations", maxIterations != nil, trained), ("--seed", seed != nil, trained),
            ("--images", images != nil, [.sepme, .ca]), ("--generation-steps", generationSteps != nil, trained),
            ("--generation-guidance", generationGuidance != nil, [.sepme, .ca]),
            ("--generation-scheduler", generationScheduler != nil, trained), ("--resume", resume, trained),
            ("--precision", precisionOption.precision != .fp32, [.sepme])
        ]
        for (flag, given, methods) in flags where given && !methods.contains(method) {
            let users = ErasureMethodKind.allCases.filter(methods.contains).map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(flag): the method '\(method.rawValue)' has no use for it (it applies to \(users))")
        }
    }

    /// The plan these flags describe; `decoupleFrom` are the concepts of the `--decouple-from` files.
    func plan(decoupleFrom names: [String]) throws -> ErasurePlan {
        var h = ErasureHyperparameters.defaults(for: variant)
        // --lr, --max-iterations and --images are SepME's hyper-parameters for sepme, the method's own settings otherwise.
        if method == .sepme {
            if let lr { h.learningRate = lr }
            if let maxIterations { h.maxIterations = maxIterations }
            if let images { h.images = images }
        }
        if let beta { h.beta = beta }
        if let lambdaValue { h.lambda = lambdaValue }
        if let tau { h.tau = tau }
        if let alpha { h.alpha = alpha }
        h.nullSpaceTolerance = tolerance
        if let generationSteps { h.generationSteps = generationSteps }
        if let generationGuidance { h.generationGuidance = generationGuidance }
        h.generationScheduler = generationScheduler
        if let seed { h.seed = seed }
        var wordings: [String: [String]] = [:]
        for w in wording {
            guard let eq = w.firstIndex(of: "="), !w[..<eq].isEmpty else {
                throw ValidationError("--wording '\(w)': expected CONCEPT=PROMPT")
            }
            wordings[String(w[..<eq]), default: []].append(String(w[w.index(after: eq)...]))
        }
        return try ErasureFlags.mapping(ErasureFlags.erase) {
            try ErasurePlan(
                method: method, concepts: concept, conceptPrompts: wordings, protectedPrompts: protect, decoupleFrom: names, variant: variant,
                hyperparameters: h, imagesFolder: imagesFolder, uce: uce.options(method: method),
                esd: baseline.esdOptions(method: method, learningRate: lr, iterations: maxIterations),
                ca: baseline.caOptions(method: method, learningRate: lr, iterations: maxIterations, images: images))
        }
    }

    func run() throws {
        try CommandFailure.reporting(ErasureFlags.eraseGeneration) {
            try ErasureFlags.mapping(ErasureFlags.erase) {
                let existing = try decoupleFrom.map { try ConceptShift.read(path: $0) }
                let plan = try plan(decoupleFrom: existing.flatMap(\.metadata.concepts))
                let model = try ShiftSet(pipeline: modelOptions.pipeline(quiet: verbosity.quiet))
                try model.check(existing, force: false)
                let observer = ToyCommandSupport.erasureObserver(
                    label: "erase", maxIterations: plan.esd?.iterations ?? plan.ca?.iterations ?? plan.hyperparameters.maxIterations,
                    quiet: verbosity.quiet)
                try ErasureRun(
                    plan: plan, output: URL(fileURLWithPath: output), resume: resume, originalPrecision: precisionOption.precision
                ).run(on: model, observer: observer)
            }
        }
    }
}
