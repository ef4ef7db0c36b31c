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
        h.seed = seed
        try h.validate()
        let outDir = URL(fileURLWithPath: output)
        let existing = try decoupleFrom.map { try ConceptShift.read(path: $0) }
        let pipeline = try ModelLoading.pipeline(model, quiet: quiet)
        let eraser = try ConceptEraser(pipeline: pipeline, hyperparameters: h)
        let log = ProgressBar("erase", quiet: quiet)
        Interrupt.install()
        eraser.shouldStop = { Interrupt.requested }
        eraser.checkpointDirectory = outDir
        eraser.resume = resume
        let decouplings: [ConceptDecoupling?] = variantValue == .full ? concept.map { _ in nil }
            : try eraser.decouple(concepts: concept, protected: protect, alsoDecoupleFrom: existing.map(\.name))
        for (c, d) in zip(concept, decouplings) {
            if let r = d?.report {
                log.message(String(format: "%@: null space dimension %d of %d (rank %d of %d rows), largest discarded sigma %.3g, reach %.3f",
                                   c, r.dimension, eraser.projections.textWidth, r.rank, r.rows, r.largestDiscardedSingularValue, d!.conceptReach))
            }
        }
        // Everything is checked; only now does anything get written.
        do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
            throw ValidationError("--output \(output): cannot create the folder (\(error.localizedDescription))")
        }
        guard FileManager.default.isWritableFile(atPath: outDir.path) else {
            throw ValidationError("--output \(output) is not writable")
        }
        let cache = outDir.appendingPathComponent(".sepme-cache")
        var jobs: [ConceptEraser.ConceptJob] = []
        for (c, d) in zip(concept, decouplings) {
            let bar = ProgressBar("images for '\(c)'", quiet: quiet)
            let latents = try imagesFolder.map { try TrainingLatents.fromImages(folder: URL(fileURLWithPath: $0), pipeline: pipeline) }
                ?? TrainingLatents.generated(pipeline: pipeline, prompt: c, count: images, hyperparameters: h,
                                             fingerprint: eraser.fingerprint, cacheDirectory: cache) { bar.update($0, $1) }
            jobs.append(.init(name: c, decoupling: d, latents: latents))
        }
        var bars: [String: ProgressBar] = [:]
        eraser.progress = { name, it, loss, m in
            let bar = bars[name] ?? ProgressBar("unlearning '\(name)'", quiet: quiet)
            bars[name] = bar
            bar.update(it, h.maxIterations, suffix: String(format: "loss %.3g momentum %.3g", loss, m ?? .nan))
        }
        let shifts = try eraser.train(jobs, variant: variantValue, protected: protect, decoupledFrom: existing.map(\.name))
        if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        for s in shifts {
            let path = outDir.appendingPathComponent("\(ConceptShift.slug(s.name)).sepme.safetensors").path
            try s.write(to: path)
            log.message("wrote \(path) (\(s.metadata.training.iterations) iterations, \(s.metadata.training.stopReason))")
        }
    }
}
