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
        try model.pipeline.validate(h.generation(prompt: plan.concepts[0], scheduler: h.generationScheduler))
    }

    func erase(plan: ErasurePlan, concepts: [Int], model: ShiftSet, context: ErasureContext) throws -> [ConceptShift] {
        model.freezeBaseWeights()
        let decouplings = try Self.decouple(plan: plan, concepts: concepts, model: model)
        for k in concepts {
            guard let d = decouplings[k] else { continue }
            let c = plan.concepts[k]
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
        var latents: [Int: TrainingLatents] = [:]
        for k in concepts { latents[k] = try userImages ?? images.generated(prompts: plan.prompts(ofConceptAt: k)) }
        let training = SepMETraining(plan: plan, model: model, context: context)
        var shifts: [Int: ConceptShift] = [:]
        let wanted = Set(concepts)
        for group in plan.variant.strategy.groups(conceptCount: plan.concepts.count) where group.allSatisfy(wanted.contains) {
            let trained = try training.train(
                group: group, decouplings: group.map { decouplings[$0] },
                latents: group.compactMap { latents[$0] })
            for (k, s) in zip(group, trained) { shifts[k] = s }
        }
        return concepts.compactMap { shifts[$0] }
    }

    /// The null-space decoupling of the concepts at `concepts` (method.md §1), by plan index; none for
    /// variants that are not decoupled. Each concept is decoupled from the blank prompt and
    /// `plan.decouplingPrompts`, or with `alone` from the blank and the protected prompts only (as
    /// if it were erased by itself). `embeddings` lets several calls (the rungs of a tolerance
    /// search) encode each prompt once.
    static func decouple(
        plan: ErasurePlan, concepts: [Int], model: ShiftSet, alone: Bool = false, embeddings: PromptEmbeddings? = nil
    ) throws -> [Int: ConceptDecoupling] {
        guard plan.variant.isDecoupled else { return [:] }
        let embedding = embeddings ?? PromptEmbeddings(model: model)
        var decouplings: [Int: ConceptDecoupling] = [:]
        for k in concepts {
            decouplings[k] = try ConceptDecoupling(
                concept: plan.concepts[k],
                conceptEmbedding: Tensor.concat(plan.prompts(ofConceptAt: k).map { embedding($0) }, axis: 0),
                protectedEmbeddings: [embedding("")]
                    + (alone ? plan.protectedPrompts : plan.decouplingPrompts(forConceptAt: k)).map { embedding($0) },
                tolerance: plan.hyperparameters.nullSpaceTolerance)
        }
        return decouplings
    }
}

/// Text embeddings E(p) of prompts, each encoded once. [L, d] per prompt
final class PromptEmbeddings {
    private let model: ShiftSet
    private var byPrompt: [String: Tensor] = [:]

    init(model: ShiftSet) { self.model = model }

    // prompt -> E(p): [L, d]
    func callAsFunction(_ prompt: String) -> Tensor {
        if let e = byPrompt[prompt] { return e }
        let e = model.pipeline.conditioning(prompts: [prompt]).context
        byPrompt[prompt] = e
        return e
    }
}
