import Diffusion
import Foundation

/// One `sepme erase` job from start to files: decouple every concept (method.md §1), check the
/// output folder, gather training latents (generated and cached, or the user's images), unlearn
/// (§2-3) and write one `<slug>.sepme.safetensors` per concept. Nothing is written before every
/// input has been checked; each shift file is written atomically.
public struct ErasureRequest {
    public var concepts: [String]
    public var protected: [String] = []
    /// Existing shifts whose concepts the new ones must not disturb.
    public var decoupleFrom: [ConceptShift] = []
    public var variant: ErasureVariant = .separate
    public var hyperparameters = ErasureHyperparameters()
    /// A folder of the user's PNG images to train on instead of generated ones.
    public var imagesFolder: URL?
    public var output: URL
    public var resume = false

    public init(concepts: [String], output: URL) {
        self.concepts = concepts
        self.output = output
    }

    /// Callbacks for progress and interruption (all optional).
    public struct Observer {
        public var message: (String) -> Void = { _ in }
        /// (concept, images done, total)
        public var images: (String, Int, Int) -> Void = { _, _, _ in }
        /// (concept, iteration, loss, momentum)
        public var iteration: (String, Int, Double, Double?) -> Void = { _, _, _, _ in }
        public var shouldStop: () -> Bool = { false }
        public init() {}
    }

    /// Runs the job on a loaded model; returns the paths written, in concept order.
    @discardableResult
    public func run(pipeline: StableDiffusionPipeline, observer: Observer = Observer()) throws -> [String] {
        guard !concepts.isEmpty else { throw ErasureError.invalidArgument("give at least one --concept") }
        let h = hyperparameters
        let eraser = try ConceptEraser(pipeline: pipeline, hyperparameters: h)
        eraser.shouldStop = observer.shouldStop
        eraser.checkpointDirectory = output
        eraser.resume = resume
        let decouplings: [ConceptDecoupling?] = variant == .full ? concepts.map { _ in nil }
            : try eraser.decouple(concepts: concepts, protected: protected, alsoDecoupleFrom: decoupleFrom.map(\.name))
        for (c, d) in zip(concepts, decouplings) {
            if let d {
                let r = d.report
                observer.message(String(format: "%@: null space dimension %d of %d (rank %d of %d rows), largest discarded sigma %.3g, reach %.3f",
                                        c, r.dimension, eraser.projections.textWidth, r.rank, r.rows, r.largestDiscardedSingularValue, d.conceptReach))
            }
        }
        let fm = FileManager.default
        do { try fm.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw ErasureError.invalidArgument("--output \(output.path): cannot create the folder (\(error.localizedDescription))")
        }
        guard fm.isWritableFile(atPath: output.path) else {
            throw ErasureError.invalidArgument("--output \(output.path) is not writable")
        }
        let cache = output.appendingPathComponent(".sepme-cache")
        var jobs: [ConceptEraser.ConceptJob] = []
        for (c, d) in zip(concepts, decouplings) {
            let latents = try imagesFolder.map { try TrainingLatents.fromImages(folder: $0, pipeline: pipeline) }
                ?? TrainingLatents.generated(pipeline: pipeline, prompt: c, count: h.images, hyperparameters: h,
                                             fingerprint: eraser.fingerprint, cacheDirectory: cache) { observer.images(c, $0, $1) }
            jobs.append(.init(name: c, decoupling: d, latents: latents))
        }
        eraser.progress = observer.iteration
        let shifts = try eraser.train(jobs, variant: variant, protected: protected, decoupledFrom: decoupleFrom.map(\.name))
        var written: [String] = []
        for s in shifts {
            let path = output.appendingPathComponent("\(ConceptShift.slug(s.name)).sepme.safetensors").path
            try s.write(to: path)
            written.append(path)
            observer.message("wrote \(path) (\(s.metadata.training.iterations) iterations, \(s.metadata.training.stopReason))")
        }
        return written
    }
}
