@testable import ConceptErasure
import Diffusion
import Foundation
import TensorEngine

/// Erasure runs on the tiny test models: SD-layout (text width 64, 8-token prompts, 8×8 pixel-space
/// latents) and SDXL (`sdxlModel`).
enum TinyErasure {
    static let folder = Bundle.module.url(forResource: "Resources/tiny-sepme", withExtension: nil)!.path

    static func model() throws -> ShiftSet {
        try ShiftSet(pipeline: StableDiffusionPipeline(folder: ModelFolder(path: folder)))
    }

    /// The tiny SDXL folder (scripts/make_sdxl_sepme_fixtures.py): SDXL base's UNet block layout,
    /// context [B, 8, 32 + 32], pooled [B, 32], 8×8 latents of 16×16 images.
    static let sdxlFolder = Bundle.module.url(forResource: "Resources/tiny-sdxl-sepme", withExtension: nil)!.path

    static func sdxlModel() throws -> ShiftSet {
        try ShiftSet(pipeline: StableDiffusionXLPipeline(folder: ModelFolder(path: sdxlFolder)))
    }

    static func hyperparameters(
        maxIterations: Int = 12, beta: Double = 1e-2, seed: UInt64 = 0,
        generationSteps: Int = 3, variant: ErasureVariant = .separate
    ) -> ErasureHyperparameters {
        var h = ErasureHyperparameters.defaults(for: variant)
        h.images = 2
        h.generationSteps = generationSteps
        h.maxIterations = maxIterations
        h.beta = beta
        h.seed = seed
        return h
    }

    /// Generated training latents of every concept of `plan` (no cache).
    static func latents(_ plan: ErasurePlan, model: ShiftSet) throws -> [TrainingLatents] {
        let images = TrainingImages(
            pipeline: model.pipeline, hyperparameters: plan.hyperparameters, fingerprint: model.fingerprint,
            cache: nil, observer: ErasureObserver())
        return try plan.concepts.indices.map { try images.generated(prompts: plan.prompts(ofConceptAt: $0)) }
    }

    /// Trains `plan` on `model` as `SepMEMethod` does, on the given latents; checkpoints in `directory`.
    static func train(
        _ plan: ErasurePlan, model: ShiftSet, latents: [TrainingLatents]? = nil, directory: URL? = nil,
        resume: Bool = false, shouldStop: @escaping () -> Bool = { false }
    ) throws -> [ConceptShift] {
        let latents = try latents ?? Self.latents(plan, model: model)
        let context = ErasureContext(
            directory: directory ?? FileManager.default.temporaryDirectory, resume: resume,
            checkpoints: .onInterruption, observer: ErasureObserver(shouldStop: shouldStop))
        let decouplings = try SepMEMethod.decouple(plan: plan, concepts: Array(plan.concepts.indices), model: model)
        let training = SepMETraining(plan: plan, model: model, context: context)
        var shifts: [ConceptShift] = []
        for group in plan.variant.strategy.groups(conceptCount: plan.concepts.count) {
            shifts += try training.train(group: group, decouplings: group.map { decouplings[$0] }, latents: group.map { latents[$0] })
        }
        return shifts
    }

    /// A stop request that turns true after `polls` polls (an interruption part-way through a run).
    static func stop(afterPolls polls: Int) -> () -> Bool {
        var calls = 0
        return {
            calls += 1
            return calls > polls
        }
    }

    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
