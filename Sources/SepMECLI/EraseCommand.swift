import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

/// `sepme erase`: builds the erasure plan from the flags (checked before the model is loaded), fixes
/// it on the model (`ErasurePlanFile`: the null spaces, and a tolerance where the exact null space
/// is empty) and runs it: one shift file per concept. `--plan-only` writes the plan as
/// `<output>/plan.json` instead; `--plan FILE [--index N]` runs a written plan, or one concept of it
/// (`EraseCommand+Plan.swift`).
struct EraseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract:
            "Erase concepts: one <slug>.sepme.safetensors shift per concept (SepME / SRS-ME: restorable; or the ESD-x, UCE or CA baseline).")

    @Option(help: "Model: a diffusers folder or a single-file checkpoint (default: the plan's model with --plan, else the embedded toy model).")
    var model: String?
    @Option(help: ModelOptions.configHelp) var config: String?
    @Option(
        help: """
            Erasure method: sepme; or a baseline: esd-x (Gandikota et al. 2023), uce (Gandikota et al. 2024) or ca (concept ablation, Kumari et al. 2023, needs --anchor).
            """)
    var method: ErasureMethodKind?
    @Option(help: "A concept prompt to erase (repeatable).") var concept: [String] = []
    @Option(
        help: """
            A further wording a concept is erased on, as 'CONCEPT=PROMPT' (repeatable), e.g. 'Van Gogh=a starry night in the style of Van Gogh'; \
            the other concepts' shifts leave every wording unchanged.
            """)
    var wording: [String] = []
    @Option(help: "A prompt whose output must not change, e.g. a watermark trigger (repeatable).") var protect: [String] = []
    @Option(help: "An existing shift file whose concept the new shifts must not disturb (repeatable).") var decoupleFrom: [String] = []
    @Option(
        help: "sepme: what each shift is decoupled from among the other concepts: every wording (wordings, the default) or their names alone (names)."
    ) var decouple: DecouplingScope?
    @Option(help: "separate (SRS-ME, the default), joint (SRS-ME†) or full (SRS-ME‡, not restorable); sepme only.")
    var variant: ErasureVariant?
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
    @Option(
        help: ArgumentHelp(
            "Train on square images of this side (pixels, a multiple of the VAE's scale factor) instead of the model's size, to save CPU time; recorded in the shift (sepme, esd-x, ca).",
            valueName: "px"))
    var trainSize: Int?
    @Option(help: "Output folder for the shift files (with --plan: the plan's folder).") var output: String?
    @Flag(help: "Continue an interrupted run from its last checkpoint (always so with --plan).") var resume = false
    @Flag(help: "Write <output>/plan.json (the checked plan, each concept's null space and leak bound) and train nothing.")
    var planOnly = false
    @Option(help: "Run a plan written by --plan-only (every concept, or the one given by --index).") var plan: String?
    @Option(
        help: """
            With --plan: train only the concept at this index of the plan (0-based; default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX when set, else every concept).
            """)
    var index: Int?
    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var verbosity: QuietOption

    /// The method and variant, defaults applied.
    var chosenMethod: ErasureMethodKind { method ?? .sepme }
    var chosenVariant: ErasureVariant { variant ?? .separate }

    func validate() throws {
        if let model { try FlagCheck.nonEmpty("--model", model) }
        if let config {
            try FlagCheck.nonEmpty("--config", config)
            if model == nil, plan == nil { throw ValidationError("--config needs --model (a single-file checkpoint)") }
        }
        if let plan {
            try FlagCheck.nonEmpty("--plan", plan)
            try refuseFlagsWithPlan()
            return
        }
        if let index { throw ValidationError("--index \(index): only with --plan (a plan written by --plan-only)") }
        guard let output else { throw ValidationError("--output: required (the folder the shift files, or with --plan-only the plan, go to)") }
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
            ("--decouple-from", !decoupleFrom.isEmpty, [.sepme, .uce]), ("--decouple", decouple != nil, [.sepme]),
            ("--images-folder", imagesFolder != nil, [.sepme]),
            ("--lr", lr != nil, trained), ("--max-iterations", maxIterations != nil, trained), ("--seed", seed != nil, trained),
            ("--train-size", trainSize != nil, trained),
            ("--images", images != nil, [.sepme, .ca]), ("--generation-steps", generationSteps != nil, trained),
            ("--generation-guidance", generationGuidance != nil, [.sepme, .ca]),
            ("--generation-scheduler", generationScheduler != nil, trained), ("--resume", resume, trained),
            ("--precision", precisionOption.precision != .fp32, [.sepme])
        ]
        let method = chosenMethod
        for (flag, given, methods) in flags where given && !methods.contains(method) {
            let users = ErasureMethodKind.allCases.filter(methods.contains).map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(flag): the method '\(method.rawValue)' has no use for it (it applies to \(users))")
        }
    }

    /// The plan these flags describe; `decoupleFrom` are the concepts of the `--decouple-from` files.
    func plan(decoupleFrom names: [String]) throws -> ErasurePlan {
        let method = chosenMethod
        var h = ErasureHyperparameters.defaults(for: chosenVariant)
        // --lr, --max-iterations and --images are SepME's hyper-parameters for sepme, the method's own settings otherwise.
        if method == .sepme {
            if let lr { h.learningRate = lr }
            if let maxIterations { h.maxIterations = maxIterations }
            if let images { h.images = images }
        }
        if let beta { h.beta = beta }
        h.trainSize = trainSize
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
                method: method, concepts: concept, conceptPrompts: wordings, protectedPrompts: protect, decoupleFrom: names,
                decoupling: decouple ?? .wordings,
                variant: chosenVariant,
                hyperparameters: h, imagesFolder: imagesFolder, uce: uce.options(method: method),
                esd: baseline.esdOptions(method: method, learningRate: lr, iterations: maxIterations),
                ca: baseline.caOptions(method: method, learningRate: lr, iterations: maxIterations, images: images))
        }
    }

    func run() throws {
        precisionOption.noteWhereBF16DoesNotPay(quiet: verbosity.quiet)
        if let plan {
            try runPlan(at: plan)
            return
        }
        guard let output else { return }
        try CommandFailure.reporting(ErasureFlags.eraseGeneration) {
            try ErasureFlags.mapping(ErasureFlags.erase) {
                let existing = try decoupleFrom.map { try ConceptShift.read(path: $0) }
                let flagsPlan = try plan(decoupleFrom: existing.flatMap(\.metadata.concepts))
                let modelPath = try model ?? ToyCommandSupport.bundledModelPath()
                let shifts = try ShiftSet(pipeline: ModelLoading.textToImagePipeline(modelPath, config: config, quiet: verbosity.quiet))
                try shifts.check(existing, force: false)
                let file = try ErasurePlanFile.make(
                    plan: flagsPlan, modelPath: URL(fileURLWithPath: modelPath).standardizedFileURL.path,
                    configuration: config.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, model: shifts)
                reportResolution(file, requested: flagsPlan)
                if planOnly {
                    try writePlan(file, into: URL(fileURLWithPath: output))
                    return
                }
                try ErasureRun(
                    plan: file.plan, output: URL(fileURLWithPath: output), resume: resume, originalPrecision: precisionOption.precision
                )
                .run(on: shifts, observer: observer(for: file.plan))
            }
        }
    }
}
