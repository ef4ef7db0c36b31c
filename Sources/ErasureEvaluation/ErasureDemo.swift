import ConceptErasure
import Diffusion
import Foundation
import Toy

/// `sepme demo`: the whole claim of the method on the embedded model, as a timeline (method.md §5):
/// erase a style and a colour with the `separate` variant and the watermark protected, restore the
/// colour, and evaluate the three states (original, erased, restored) against the original model;
/// then the prompts the kept shift should leave alone again with that shift baked into the weights
/// as `sepme apply` writes it (the report's `baked` section).
public struct ErasureDemo {
    /// Concept prompts erased in the first event; `restore` must be one of them.
    public var erase = ["a striped square", "a red circle"]
    public var restore = "a red circle"
    public var protected = [ToyConcepts.watermarkPrompt]
    /// Never-erased prompts that show what an erasure leaves alone.
    public var regular = ["a blue star", "a green triangle", "a dotted heart", "an outlined cross", "a yellow square"]
    public var hyperparameters: ErasureHyperparameters = {
        var h = ErasureHyperparameters()
        h.images = 64
        h.maxIterations = 200
        h.beta = 3e-3  // smaller values do not erase within 200 iterations, larger ones move regular prompts: docs/toy-model.md
        h.generationSteps = 20
        h.generationGuidance = 4
        return h
    }()
    public var evaluation = ConceptEvaluator.Settings()

    public init() {
        evaluation.imagesPerPrompt = 16
        evaluation.compareBaked = true
    }

    /// Every evaluated prompt, in report order: erased, regular, protected, blank.
    public var prompts: [String] { erase + regular + protected + [""] }

    /// The erasure the demo runs, checked.
    public func plan() throws -> ErasurePlan {
        guard erase.contains(restore) else {
            throw EvaluationError.invalidPrompts("the restored concept '\(restore)' is not among the erased ones")
        }
        for p in prompts { _ = try EvaluationPrompt(p) }
        try evaluation.validate()
        return try ErasurePlan(concepts: erase, protectedPrompts: protected, variant: .separate, hyperparameters: hyperparameters)
    }

    /// Runs the timeline; shift files go to `output/shifts`, the report to `output`.
    public func run(
        model: ShiftSet, classifier: ToyClassifier, modelName: String, output: URL,
        observer: ErasureObserver, evaluationProgress: ((String, Int, Int) -> Void)?
    ) throws -> EvaluationReport {
        let plan = try plan()
        let evaluator = try ConceptEvaluator(model: model, classifier: classifier, settings: evaluation, modelName: modelName)
        evaluator.progress = evaluationProgress
        evaluator.shouldStop = observer.shouldStop
        // Check the report folder before the long work starts.
        try ConceptEvaluator.prepareOutput(output)
        let paths = try ErasureRun(plan: plan, output: output.appendingPathComponent("shifts")).run(on: model, observer: observer)
        let shifts = try paths.map { try ConceptShift.read(path: $0) }
        let kept = shifts.filter { $0.name != restore }
        let restored = shifts.filter { $0.name == restore }
        let (report, images) = try evaluator.evaluate(prompts: prompts, shifts: kept, restore: restored)
        try ConceptEvaluator.write(report, images: images, to: output)
        return report
    }
}
