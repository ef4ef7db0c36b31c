@testable import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// The guarantees of method.md §1, shown numerically on a tiny model (text width 64, 8-token prompts):
/// erasing c1 leaves c2, the watermark and the blank prompt unchanged; shifts compose; removing one
/// restores its concept exactly while the other erasure stays as it was.
final class ErasureInvariantTests: XCTestCase {
    let c1 = "a red circle", c2 = "a striped blue star", watermark = "zq watermark"

    /// One trained pair of shifts shared by the tests (training is the slow part).
    static let trained = SharedTestValue<(model: ShiftSet, shifts: [ConceptShift])> {
        do {
            let model = try TinyErasure.model()
            let plan = try ErasurePlan(
                concepts: ["a red circle", "a striped blue star"], protectedPrompts: ["zq watermark"],
                hyperparameters: TinyErasure.hyperparameters(maxIterations: 15, seed: 1, generationSteps: 4))
            return (model, try TinyErasure.train(plan, model: model))
        } catch { fatalError("training the shared shifts failed: \(error)") }
    }

    var model: ShiftSet { Self.trained.value.model }
    var pipeline: StableDiffusionPipeline { Self.trained.value.model.pipeline as! StableDiffusionPipeline }
    var shifts: [ConceptShift] { Self.trained.value.shifts }

    private func noisePrediction(_ prompt: String, seed: UInt64 = 5, timestep: Float = 500) -> Tensor {
        var g = PyTorchGenerator(seed: seed)
        let x = Tensor.randn([1, 3, 8, 8], generator: &g)
        return GradMode.withNoGrad { pipeline.predictNoise(x, timestep: timestep, context: pipeline.encode(prompts: [prompt])) }
    }

    private func image(_ prompt: String) throws -> [UInt8] {
        try pipeline.generate(GenerationOptions(prompts: [prompt], seed: 3, steps: 10, guidance: 5)).images[0].pixels
    }

    private func relativeChange(_ a: Tensor, _ b: Tensor) -> Float {
        let e = maxErrors(a, b)
        return e.abs / max(e.refMax, 1e-12)
    }

    func testShiftsAreNonTrivialAndRecordTheirTraining() {
        XCTAssertEqual(shifts.map(\.name), [c1, c2])
        for s in shifts {
            XCTAssertEqual(s.metadata.training.iterations, 15)
            XCTAssertEqual(s.projectionKeys.count, 2 * model.projections.layers.count)
            XCTAssertTrue(s.metadata.restorable)
            XCTAssertEqual(s.metadata.protectedPrompts, [watermark])
            XCTAssertGreaterThan(s.factors.values.map { $0.abs().sum().item }.reduce(0, +), 0)
        }
        XCTAssertEqual(shifts[0].metadata.decoupledFrom, [c2])
    }

    func testErasingC1LeavesProtectedKeysValuesAndPredictionsUnchanged() throws {
        let layers = model.projections.keyValueProjections
        for prompt in [c2, watermark, ""] {
            let e = pipeline.encode(prompts: [prompt])
            model.remove()
            let before = GradMode.withNoGrad { layers.map { $0.1(e) } }
            let eps0 = noisePrediction(prompt)
            try model.install([shifts[0]])
            let after = GradMode.withNoGrad { layers.map { $0.1(e) } }
            for (i, (b, a)) in zip(before, after).enumerated() {
                XCTAssertLessThanOrEqual(relativeChange(a, b), 1e-6, "'\(prompt)' \(layers[i].0)")
            }
            XCTAssertLessThanOrEqual(relativeChange(noisePrediction(prompt), eps0), 1e-5, "'\(prompt)' noise prediction")
        }
        // ... while c1's own prediction changes.
        model.remove()
        let orig = noisePrediction(c1)
        try model.install([shifts[0]])
        XCTAssertGreaterThan(relativeChange(noisePrediction(c1), orig), 1e-3, "the erased concept's prediction must change")
        model.remove()
    }

    func testProtectedGenerationsIdenticalIn8Bit() throws {
        model.remove()
        let originals = try [c2, watermark, ""].map(image)
        try model.install([shifts[0]])
        for (prompt, orig) in zip([c2, watermark, ""], originals) {
            XCTAssertEqual(try image(prompt), orig, "'\(prompt)' changed under the shift of '\(c1)'")
        }
        model.remove()
    }

    func testComposeThenRestore() throws {
        model.remove()
        let originalC1 = try image(c1)
        try model.install(shifts)
        let bothC1 = try image(c1)
        let bothC2 = try image(c2)
        XCTAssertNotEqual(bothC1, originalC1, "c1 is erased in the composed model")
        // Restore c1: remove its shift, keep c2's.
        try model.install([shifts[1]])
        XCTAssertEqual(try image(c1), originalC1, "restored concept equals the original model's output")
        XCTAssertEqual(try image(c2), bothC2, "the other erasure stays exactly as it was")
        model.remove()
    }

    /// ∂loss/∂A by central differences on the tiny model (one fixed x_t and timestep).
    func testLossGradientWithRespectToA() throws {
        let plan = try ErasurePlan(concepts: [c1], protectedPrompts: [watermark])
        let dec = try SepMEMethod.decouple(plan: plan, concepts: [0], model: model)[0]
        let shift = ShiftWeights.trainable(projections: model.projections.keyValueProjections, basis: dec?.basis, beta: 1e-2)
        var rng = TestRNG(seed: 4)
        for a in shift.trainableTensors { a.assign(from: rng.tensor(a.shape, -2, 2)) }
        var g = PyTorchGenerator(seed: 8)
        let xt = Tensor.randn([1, 3, 8, 8], generator: &g)
        let cond = pipeline.conditioning(prompts: [c1])
        let blank = pipeline.unconditionalConditioning(count: 1)
        let probe = [shift.trainableTensors[0], shift.trainableTensors[shift.trainableTensors.count - 1]]
        let objective = SepMEObjective(model: model, variant: .separate, lambda: 1e-6)
        _ = model.withTrainingWeights([shift]) {
            checkGradients("SepME objective wrt A", inputs: probe, eps: 1e-2, tolerance: 2e-2, maxChecksPerInput: 24) { _ in
                objective(xt: xt, timestep: 400, conds: cond, blank: blank, weights: [shift]).loss
            }
        }
    }

    /// `withShifts` restores the set installed before, also when its body throws; a concept's shift
    /// cannot be installed twice.
    func testScopedShiftsRestoreThePreviousSet() throws {
        try model.install([shifts[1]])
        let before = noisePrediction(c1)
        struct Boom: Error {}
        XCTAssertThrowsError(
            try model.withShifts([shifts[0]]) { () throws -> Void in
                XCTAssertGreaterThan(relativeChange(noisePrediction(c1), before), 1e-3)
                throw Boom()
            })
        XCTAssertEqual(model.installed.map(\.name), [c2])
        XCTAssertEqual(noisePrediction(c1).scalars, before.scalars, "the previous set acts again, bit for bit")
        XCTAssertThrowsError(try model.install([shifts[0], shifts[0]])) { e in
            XCTAssertTrue("\(e)".contains("again"), "\(e)")
        }
        XCTAssertEqual(model.installed.map(\.name), [c2], "a refused install changes nothing")
        model.remove()
    }

    /// Fusing the shifts into the weights gives the model the adapters gave (to float rounding).
    func testFusedWeightsMatchTheAdapters() throws {
        let copy = try TinyErasure.model()
        try copy.install(shifts)
        let adapted = GradMode.withNoGrad {
            copy.pipeline.predictNoise(Self.latent(), timestep: 500, conditioning: copy.pipeline.conditioning(prompts: [c1]))
        }
        let fingerprint = copy.fingerprint
        let changed = copy.fuse()
        XCTAssertEqual(changed.count, 2 * copy.projections.layers.count)
        XCTAssertTrue(copy.installed.isEmpty)
        XCTAssertNotEqual(copy.fingerprint, fingerprint, "the fused model is another base model")
        let fused = GradMode.withNoGrad {
            copy.pipeline.predictNoise(Self.latent(), timestep: 500, conditioning: copy.pipeline.conditioning(prompts: [c1]))
        }
        XCTAssertLessThanOrEqual(relativeChange(fused, adapted), 1e-5)
    }

    static func latent() -> Tensor {
        var g = PyTorchGenerator(seed: 5)
        return Tensor.randn([1, 3, 8, 8], generator: &g)
    }
}
