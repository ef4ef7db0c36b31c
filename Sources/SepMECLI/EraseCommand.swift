import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

/// `sepme erase`: builds the erasure plan from the flags (checked before the model is loaded) and
/// runs it: one restorable shift file per concept.
struct EraseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase concepts: one <slug>.sepme.safetensors shift per concept (SepME / SRS-ME: restorable; or the UCE baseline).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Erasure method: sepme, or uce (the closed-form baseline of Gandikota et al.).") var method: ErasureMethodKind = .sepme
    @Option(help: "A concept prompt to erase (repeatable).") var concept: [String] = []
    @Option(
        help: """
            A further wording a concept is erased on, as 'CONCEPT=PROMPT' (repeatable), e.g. 'Van Gogh=a starry night in the style of Van Gogh';             the other concepts' shifts leave every wording unchanged.
            """)
    var wording: [String] = []
    @Option(help: "A prompt whose output must not change, e.g. a watermark trigger (repeatable).") var protect: [String] = []
    @Option(help: "An existing shift file whose concept the new shifts must not disturb (repeatable).") var decoupleFrom: [String] = []
    @Option(help: "separate (SRS-ME), joint (SRS-ME†) or full (SRS-ME‡, not restorable); sepme only.") var variant: ErasureVariant = .separate
    @OptionGroup var uce: UCEFlags
    @Option(help: "Training images generated per concept (default \(ErasureHyperparameters().images)).") var images: Int?
    @Option(help: "Folder of the user's PNG images to train on instead of generated ones.") var imagesFolder: String?
    @Option(help: "Maximum training iterations per concept.") var maxIterations: Int = 1000
    @Option(help: "Adam learning rate (default: the variant's, 0.1, or 1e-5 for full).") var lr: Double?
    @Option(help: "Shift scale beta in dW = beta A S.") var beta: Double = 1e-4
    @Option(name: .customLong("lambda"), help: "L1 regulariser weight.") var lambdaValue: Double = 1e-6
    @Option(help: "Stop once the momentum statistic of the loss reaches tau.") var tau: Double = 1e-4
    @Option(help: "Momentum of the stopping statistic.") var alpha: Double = 0.9
    @Option(help: "Approximate null space: singular values below tolerance*sigma_max count as zero.") var tolerance: Double?
    @Option(help: "Steps used to generate training images.") var generationSteps: Int = 20
    @Option(help: "Guidance used to generate training images.") var generationGuidance: Double = 7.5
    @Option(help: "Sampler of the training images (default: the model folder's).") var generationScheduler: SamplerKind?
    @Option(help: "Seed of training images and of the training loop.") var seed: UInt64 = 0
    @Option(help: "Output folder for the shift files.") var output: String
    @Flag(help: "Continue an interrupted run from its last checkpoint.") var resume = false
    @OptionGroup var verbosity: QuietOption

    func validate() throws {
        try FlagCheck.nonEmpty("--output", output)
        _ = try plan(decoupleFrom: [])
    }

    /// The plan these flags describe; `decoupleFrom` are the concepts of the `--decouple-from` files.
    func plan(decoupleFrom names: [String]) throws -> ErasurePlan {
        var h = ErasureHyperparameters.defaults(for: variant)
        if let lr { h.learningRate = lr }
        h.beta = beta
        h.lambda = lambdaValue
        h.tau = tau
        h.alpha = alpha
        h.maxIterations = maxIterations
        h.nullSpaceTolerance = tolerance
        if let images { h.images = images }
        h.generationSteps = generationSteps
        h.generationGuidance = generationGuidance
        h.generationScheduler = generationScheduler
        h.seed = seed
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
                hyperparameters: h, imagesFolder: imagesFolder, uce: uce.options(method: method))
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
                    label: "erase", maxIterations: plan.hyperparameters.maxIterations,
                    quiet: verbosity.quiet)
                try ErasureRun(plan: plan, output: URL(fileURLWithPath: output), resume: resume).run(on: model, observer: observer)
            }
        }
    }
}
