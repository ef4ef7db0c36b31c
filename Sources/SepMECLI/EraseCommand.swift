import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

struct EraseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase concepts: one restorable <slug>.sepme.safetensors shift per concept (SepME / SRS-ME).")

    @Option(help: "Model: a diffusers folder.") var model: String
    @Option(help: "A concept prompt to erase (repeatable).") var concept: [String] = []
    @Option(help: "A prompt whose output must not change, e.g. a watermark trigger (repeatable).") var protect: [String] = []
    @Option(help: "An existing shift file whose concept the new shifts must not disturb (repeatable).") var decoupleFrom: [String] = []
    @Option(help: "separate (SRS-ME), joint (SRS-ME†) or full (SRS-ME‡, not restorable).") var variant: String = "separate"
    @Option(help: "Training images generated per concept.") var images: Int = 8
    @Option(help: "Folder of the user's PNG images to train on instead of generated ones.") var imagesFolder: String?
    @Option(help: "Maximum training iterations per concept.") var maxIterations: Int = 1000
    @Option(help: "Adam learning rate (default 0.1; 1e-5 for --variant full).") var lr: Double?
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
    @Flag(help: "No progress output.") var quiet = false

    func run() throws {
        guard !concept.isEmpty else { throw ValidationError("give at least one --concept") }
        guard let variantValue = ErasureVariant(rawValue: variant) else {
            throw ValidationError("--variant must be separate, joint or full, got '\(variant)'")
        }
        var h = ErasureHyperparameters()
        h.learningRate = lr ?? (variantValue == .full ? 1e-5 : 0.1)
        h.beta = beta
        h.lambda = lambdaValue
        h.tau = tau
        h.alpha = alpha
        h.maxIterations = maxIterations
        h.nullSpaceTolerance = tolerance
        h.images = images
        h.generationSteps = generationSteps
        h.generationGuidance = generationGuidance
        h.generationScheduler = generationScheduler
        h.seed = seed
        try h.validate()
        let existing = try decoupleFrom.map { try ConceptShift.read(path: $0) }
        let pipeline = try ModelLoading.pipeline(model, quiet: quiet)
        var request = ErasureRequest(concepts: concept, output: URL(fileURLWithPath: output))
        request.protected = protect
        request.decoupleFrom = existing
        request.variant = variantValue
        request.hyperparameters = h
        request.imagesFolder = imagesFolder.map { URL(fileURLWithPath: $0) }
        request.resume = resume
        let observer = ToyCommandSupport.erasureObserver(label: "erase", maxIterations: h.maxIterations, quiet: quiet)
        try request.run(pipeline: pipeline, observer: observer)
    }
}
