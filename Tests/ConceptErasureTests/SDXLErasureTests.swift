@testable import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// SepME on the tiny SDXL folder (scripts/make_sdxl_sepme_fixtures.py; context width 64 = 32 + 32,
/// 8-token prompts, pooled width 32): the objective equals plain full forwards with each
/// evaluation's own pooled embedding, trained shifts leave the protected and blank prompts' keys,
/// values and noise predictions unchanged, change the concept's, and removing them restores it
/// exactly (method.md §1).
final class SDXLErasureTests: XCTestCase {
    let concept = "a red circle", watermark = "zq watermark", other = "a striped blue star"

    /// One trained shift shared by the tests (training is the slow part).
    static let trained = SharedTestValue<(model: ShiftSet, shift: ConceptShift)> {
        do {
            let model = try TinyErasure.sdxlModel()
            let plan = try ErasurePlan(
                concepts: ["a red circle"], protectedPrompts: ["zq watermark", "a striped blue star"],
                hyperparameters: TinyErasure.hyperparameters(maxIterations: 12, beta: 3e-2, seed: 2, generationSteps: 3))
            return (model, try TinyErasure.train(plan, model: model)[0])
        } catch { fatalError("training the shared SDXL shift failed: \(error)") }
    }

    var model: ShiftSet { Self.trained.value.model }
    var shift: ConceptShift { Self.trained.value.shift }
    var pipeline: StableDiffusionXLPipeline { model.pipeline as! StableDiffusionXLPipeline }

    static func latent(seed: UInt64 = 5) -> Tensor {
        var g = PyTorchGenerator(seed: seed)
        return Tensor.randn([1, 4, 8, 8], generator: &g)
    }

    /// ε from one plain forward (no shared start), time ids of the 16×16 image.
    func plainForward(_ x: Tensor, _ t: Float, _ c: PromptConditioning) -> Tensor {
        let added = UNetAddedConditions(textEmbeds: c.pooled!, sharedTimeIds: [16, 16, 0, 0, 16, 16])
        return GradMode.withNoGrad { pipeline.unet(x, timesteps: [t], encoderHiddenStates: c.context, addedConditions: added) }
    }

    func relativeChange(_ a: Tensor, _ b: Tensor) -> Float {
        let e = maxErrors(a, b)
        return e.abs / max(e.refMax, 1e-12)
    }

    func testConditioningHasContextPooledAndZeroUnconditional() {
        let c = pipeline.conditioning(prompts: [concept, watermark])
        XCTAssertEqual(c.context.shape, [2, 8, 64])
        XCTAssertEqual(c.pooled?.shape, [2, 32])
        XCTAssertEqual(model.family, .stableDiffusionXL)
        XCTAssertEqual(model.contextWidth, 64)
        XCTAssertEqual(model.projections.keyValueProjections.count, 34)
        // force_zeros_for_empty_prompt: guidance's unconditional side is zeros, context and pooled.
        let u = pipeline.unconditionalConditioning(count: 2)
        XCTAssertEqual(u.context.shape, [2, 8, 64])
        XCTAssertEqual(u.context.abs().sum().item, 0)
        XCTAssertEqual(u.pooled?.abs().sum().item, 0)
        let added = pipeline.addedConditions(for: c, latentHeight: 8, latentWidth: 12)
        XCTAssertEqual(added?.timeIds.scalars, [16, 24, 0, 0, 16, 24, 16, 24, 0, 0, 16, 24])
    }

    /// The objective shares the UNet's text-free start between the original concept, original
    /// unconditional and edited concept evaluations; on SDXL the pooled embedding enters after it.
    /// Its representations and loss equal those of three plain forwards, each with its own pooled
    /// embedding and the shift on (edited) or off (original).
    func testObjectiveEqualsPlainForwards() throws {
        let plan = try ErasurePlan(concepts: [concept], protectedPrompts: [watermark])
        let basis = try XCTUnwrap(try SepMEMethod.decouple(plan: plan, concepts: [0], model: model)[0]?.basis)
        let weights = ShiftWeights.trainable(projections: model.projections.keyValueProjections, basis: basis, beta: 3e-2)
        var rng = TestRNG(seed: 11)
        for a in weights.trainableTensors { a.assign(from: rng.tensor(a.shape, -1, 1)) }
        let x = Self.latent()
        let cond = pipeline.conditioning(prompts: [concept])
        let blank = pipeline.unconditionalConditioning(count: 1)
        let objective = SepMEObjective(model: model, variant: .separate, lambda: 0)
        let (value, rEditShared) = GradMode.withNoGrad {
            model.withTrainingWeights([weights]) {
                let v = objective(xt: x, timestep: 700, conds: cond, blank: blank, weights: [weights])
                let start = pipeline.unet.textFreeStart(x, timesteps: [700])
                let (_, blankEps) = objective.originalPredictions(start: start, conds: cond, blank: blank)
                let r = SeparateVariant().editedRepresentation(
                    pipeline: pipeline, start: start, conds: cond, blank: blank, originalBlankEps: blankEps)
                return (v, r)
            }
        }
        let editedConcept = model.withTrainingWeights([weights]) { plainForward(x, 700, cond) }
        let originalConcept = plainForward(x, 700, cond)
        let originalBlank = plainForward(x, 700, blank)
        let rEdit = editedConcept - originalBlank
        let rOrig = originalConcept - originalBlank
        assertClose(rEditShared, rEdit, rtol: 1e-5, "edited representation, shared start vs plain forwards")
        let expected = (rEdit * rOrig).mean().item
        XCTAssertEqual(value.correlations[0], Double(expected), accuracy: 1e-5 * abs(Double(expected)) + 1e-9)
        // Not vacuous: the shift moves the concept's prediction, and the pooled embedding matters.
        XCTAssertGreaterThan(relativeChange(editedConcept, originalConcept), 1e-3)
        XCTAssertGreaterThan(relativeChange(plainForward(x, 700, cond.withPooled(blank.pooled)), originalConcept), 1e-3)
    }

    func testTrainedShiftRecordsItsFamilyAndReadsBack() throws {
        XCTAssertEqual(shift.metadata.modelFamily, .stableDiffusionXL)
        XCTAssertEqual(shift.metadata.contextWidth, 64)
        XCTAssertEqual(shift.metadata.training.iterations, 12)
        XCTAssertEqual(shift.projectionKeys.count, 34)
        XCTAssertEqual(shift.basis?.shape[1], 64)
        XCTAssertGreaterThan(shift.factors.values.map { $0.abs().sum().item }.reduce(0, +), 0)
        let dir = try TinyErasure.temporaryDirectory("sdxl-shift")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.sepme.safetensors").path
        try shift.write(to: path)
        let read = try ConceptShift.read(path: path)
        XCTAssertEqual(read.metadata, shift.metadata)
        try model.install([read])
        model.remove()
    }

    /// Protected prompts and the blank prompt (encoded, and the zeros guidance uses) keep their keys,
    /// values and noise predictions bit for bit under the installed shift; the concept's change;
    /// removing the shift restores the concept's prediction bit for bit.
    func testProtectedAndBlankUnchangedConceptChangedAndRestored() throws {
        let x = Self.latent(seed: 9)
        let layers = model.projections.keyValueProjections
        let prompts = [watermark, other, ""]
        let conditionings = prompts.map { pipeline.conditioning(prompts: [$0]) } + [pipeline.unconditionalConditioning(count: 1)]
        let conceptConditioning = pipeline.conditioning(prompts: [concept])
        func keysValues(_ c: PromptConditioning) -> [Tensor] { GradMode.withNoGrad { layers.map { $0.1(c.context) } } }
        let before = conditionings.map { (keysValues($0), plainForward(x, 400, $0)) }
        let conceptBefore = (keysValues(conceptConditioning), plainForward(x, 400, conceptConditioning))
        try model.install([shift])
        for (i, c) in conditionings.enumerated() {
            let name = i < prompts.count ? "'\(prompts[i])'" : "unconditional zeros"
            for (a, b) in zip(keysValues(c), before[i].0) { XCTAssertEqual(a.scalars, b.scalars, "\(name): keys/values") }
            XCTAssertEqual(plainForward(x, 400, c).scalars, before[i].1.scalars, "\(name): noise prediction")
        }
        let kvChange = zip(keysValues(conceptConditioning), conceptBefore.0).map { relativeChange($0, $1) }.max() ?? 0
        XCTAssertGreaterThan(kvChange, 1e-3, "the concept's keys/values move")
        let conceptAfter = plainForward(x, 400, conceptConditioning)
        XCTAssertGreaterThan(relativeChange(conceptAfter, conceptBefore.1), 1e-4, "the concept's prediction moves")
        model.remove()
        XCTAssertEqual(plainForward(x, 400, conceptConditioning).scalars, conceptBefore.1.scalars, "restored exactly")
    }

    /// Baked in (what `apply` and the LoRA files carry: W + ΔW, no reach mask), protected and blank
    /// prompts move by float32 rounding only: within 1e-6 relative.
    func testBakedShiftKeepsProtectedPromptsWithinRounding() throws {
        let x = Self.latent(seed: 3)
        let prompts = [watermark, other, ""]
        let before = prompts.map { plainForward(x, 250, pipeline.conditioning(prompts: [$0])) }
        let concept0 = plainForward(x, 250, pipeline.conditioning(prompts: [concept]))
        let (after, concept1) = try model.withShiftsFused([shift]) {
            (
                prompts.map { plainForward(x, 250, pipeline.conditioning(prompts: [$0])) },
                plainForward(x, 250, pipeline.conditioning(prompts: [concept]))
            )
        }
        for (i, p) in prompts.enumerated() {
            XCTAssertLessThanOrEqual(relativeChange(after[i], before[i]), 1e-6, "'\(p)' with the shift baked in")
        }
        XCTAssertGreaterThan(relativeChange(concept1, concept0), 1e-4)
        XCTAssertEqual(plainForward(x, 250, pipeline.conditioning(prompts: [concept])).scalars, concept0.scalars, "weights restored")
    }
}
