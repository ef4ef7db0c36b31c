import Diffusion
import Foundation
import TensorEngine

/// SepME / SRS-ME as an `ErasureMethod` (method.md): decouple every concept into the null space of
/// the prompts it must leave unchanged (§1), gather its training latents, and unlearn it with
/// `SepMETraining` in the groups its variant trains together (§2-3).
struct SepMEMethod: ErasureMethod {
    /// The training images' sampling must suit the model (steps within its scheduler's timesteps,
    /// a size it can make), and a user image folder must exist.
    func check(plan: ErasurePlan, model: ShiftSet) throws {
        let h = plan.hyperparameters
        if let folder = plan.imagesFolder {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ErasureError.trainingImages(path: folder, reason: "not a folder")
            }
            return
        }
        let config = model.pipeline.schedulerConfiguration
        try SamplerKind.resolve(h.generationScheduler, config: config).makeScheduler(config: config).setTimesteps(h.generationSteps)
        try model.pipeline.validate(
            GenerationOptions(
                prompts: [plan.concepts[0]], steps: h.generationSteps,
                guidance: Float(h.generationGuidance), scheduler: h.generationScheduler))
    }

    func erase(plan: ErasurePlan, model: ShiftSet, context: ErasureContext) throws -> [ConceptShift] {
        model.pipeline.unet.setRequiresGrad(false)
        model.pipeline.textEncoder.setRequiresGrad(false)
        let decouplings = try decouple(plan: plan, model: model)
        for (c, d) in zip(plan.concepts, decouplings) {
            guard let d else { continue }
            let r = d.report
            context.observer.message(
                String(
                    format: "%@: null space dimension %d of %d (rank %d of %d rows), largest discarded sigma %.3g, reach %.3f",
                    c, r.dimension, model.projections.textWidth, r.rank, r.rows,
                    r.largestDiscardedSingularValue, d.conceptReach))
        }
        let images = TrainingImages(
            pipeline: model.pipeline, hyperparameters: plan.hyperparameters,
            fingerprint: model.fingerprint, cache: context.imageCache,
            observer: context.observer)
        // The user's images (encoded once, shared by every concept), or each concept's generated ones.
        let userImages = try plan.imagesFolder.map { try images.fromFolder(URL(fileURLWithPath: $0)) }
        let latents = try plan.concepts.indices.map { k in try userImages ?? images.generated(prompts: plan.prompts(ofConceptAt: k)) }
        let training = SepMETraining(plan: plan, model: model, context: context)
        var shifts = [ConceptShift?](repeating: nil, count: plan.concepts.count)
        for group in plan.variant.strategy.groups(conceptCount: plan.concepts.count) {
            let trained = try training.train(
                group: group, decouplings: group.map { decouplings[$0] },
                latents: group.map { latents[$0] })
            for (k, s) in zip(group, trained) { shifts[k] = s }
        }
        return shifts.compactMap { $0 }
    }

    /// The null-space decoupling of every concept (method.md §1), nil for variants that are not
    /// decoupled. Each concept is decoupled from the blank prompt and `plan.decouplingPrompts`.
    func decouple(plan: ErasurePlan, model: ShiftSet) throws -> [ConceptDecoupling?] {
        guard plan.variant.isDecoupled else { return plan.concepts.map { _ in nil } }
        var embeddings: [String: Tensor] = [:]
        func embedding(_ prompt: String) -> Tensor {
            if let e = embeddings[prompt] { return e }
            let e = model.pipeline.encode(prompts: [prompt])
            embeddings[prompt] = e
            return e
        }
        return try plan.concepts.indices.map { k in
            try ConceptDecoupling(
                concept: plan.concepts[k],
                conceptEmbedding: Tensor.concat(plan.prompts(ofConceptAt: k).map(embedding), axis: 0),
                protectedEmbeddings: [embedding("")] + plan.decouplingPrompts(forConceptAt: k).map(embedding),
                tolerance: plan.hyperparameters.nullSpaceTolerance)
        }
    }
}
