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
    static let folder = Bundle.module.url(forResource: "Resources/tiny-sepme", withExtension: nil)!.path
    let c1 = "a red circle", c2 = "a striped blue star", watermark = "zq watermark"

    /// One trained pair of shifts shared by the tests (training is the slow part).
    static let trained: (pipeline: StableDiffusionPipeline, eraser: ConceptEraser, shifts: [ConceptShift]) = {
        let pipeline = try! StableDiffusionPipeline(folder: ModelFolder(path: folder))
        var h = ErasureHyperparameters()
        h.images = 2
        h.generationSteps = 4
        h.maxIterations = 15
        h.beta = 1e-2
        h.seed = 1
        let eraser = try! ConceptEraser(pipeline: pipeline, hyperparameters: h)
        let concepts = ["a red circle", "a striped blue star"]
        let decouplings = try! eraser.decouple(concepts: concepts, protected: ["zq watermark"])
        let jobs = try! zip(concepts, decouplings).map { c, d in
            ConceptEraser.ConceptJob(name: c, decoupling: d, latents: try TrainingLatents.generated(
                pipeline: pipeline, prompt: c, count: 2, hyperparameters: h, fingerprint: eraser.fingerprint, cacheDirectory: nil))
        }
        let shifts = try! eraser.train(jobs, variant: .separate, protected: ["zq watermark"])
        return (pipeline, eraser, shifts)
    }()

    var pipeline: StableDiffusionPipeline { Self.trained.pipeline }
    var shifts: [ConceptShift] { Self.trained.shifts }

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
            XCTAssertEqual(s.projectionKeys.count, 2 * Self.trained.eraser.projections.layers.count)
            XCTAssertTrue(s.metadata.restorable)
            XCTAssertEqual(s.metadata.protectedPrompts, [watermark])
            XCTAssertGreaterThan(s.factors.values.map { $0.abs().sum().item }.reduce(0, +), 0)
        }
        XCTAssertEqual(shifts[0].metadata.decoupledFrom, [c2])
    }

    func testErasingC1LeavesProtectedKeysValuesAndPredictionsUnchanged() throws {
        let layers = Self.trained.eraser.projections.keyValueProjections
        for prompt in [c2, watermark, ""] {
            let e = pipeline.encode(prompts: [prompt])
            try ShiftInstaller.install([], on: pipeline, force: false)
            let before = GradMode.withNoGrad { layers.map { $0.1(e) } }
            let eps0 = noisePrediction(prompt)
            try ShiftInstaller.install([shifts[0]], on: pipeline, force: false)
            let after = GradMode.withNoGrad { layers.map { $0.1(e) } }
            for (i, (b, a)) in zip(before, after).enumerated() {
                XCTAssertLessThanOrEqual(relativeChange(a, b), 1e-6, "'\(prompt)' \(layers[i].0)")
            }
            XCTAssertLessThanOrEqual(relativeChange(noisePrediction(prompt), eps0), 1e-5, "'\(prompt)' noise prediction")
        }
        // ... while c1's own prediction changes.
        try ShiftInstaller.install([], on: pipeline, force: false)
        let orig = noisePrediction(c1)
        try ShiftInstaller.install([shifts[0]], on: pipeline, force: false)
        XCTAssertGreaterThan(relativeChange(noisePrediction(c1), orig), 1e-3, "the erased concept's prediction must change")
        try ShiftInstaller.install([], on: pipeline, force: false)
    }

    func testProtectedGenerationsIdenticalIn8Bit() throws {
        try ShiftInstaller.install([], on: pipeline, force: false)
        let originals = try [c2, watermark, ""].map(image)
        try ShiftInstaller.install([shifts[0]], on: pipeline, force: false)
        for (prompt, orig) in zip([c2, watermark, ""], originals) {
            XCTAssertEqual(try image(prompt), orig, "'\(prompt)' changed under the shift of '\(c1)'")
        }
        try ShiftInstaller.install([], on: pipeline, force: false)
    }

    func testComposeThenRestore() throws {
        try ShiftInstaller.install([], on: pipeline, force: false)
        let originalC1 = try image(c1)
        try ShiftInstaller.install(shifts, on: pipeline, force: false)
        let bothC1 = try image(c1), bothC2 = try image(c2)
        XCTAssertNotEqual(bothC1, originalC1, "c1 is erased in the composed model")
        // Restore c1: remove its shift, keep c2's.
        try ShiftInstaller.install([shifts[1]], on: pipeline, force: false)
        XCTAssertEqual(try image(c1), originalC1, "restored concept equals the original model's output")
        XCTAssertEqual(try image(c2), bothC2, "the other erasure stays exactly as it was")
        try ShiftInstaller.install([], on: pipeline, force: false)
    }

    /// ∂loss/∂A by central differences on the tiny model (one fixed x_t and timestep).
    func testLossGradientWithRespectToA() throws {
        let eraser = Self.trained.eraser
        let dec = try eraser.decouple(concepts: [c1], protected: [watermark])[0]
        let kv = eraser.projections.keyValueProjections
        removeShiftAdapters(eraser.projections.allProjections)
        let shift = TrainableShift(concept: c1, basis: dec.basis, beta: 1e-2, projections: kv)
        shift.install(on: kv)
        defer { removeShiftAdapters(eraser.projections.allProjections) }
        var rng = TestRNG(seed: 4)
        for (_, a) in shift.parameters { a.assign(from: rng.tensor(a.shape, -2, 2)) }
        var g = PyTorchGenerator(seed: 8)
        let xt = Tensor.randn([1, 3, 8, 8], generator: &g)
        let cond = pipeline.encode(prompts: [c1]), blank = pipeline.encode(prompts: [""])
        let probe = [shift.parameters[0].1, shift.parameters[shift.parameters.count - 1].1]
        checkGradients("SepME objective wrt A", inputs: probe, eps: 1e-2, tolerance: 2e-2, maxChecksPerInput: 24) { _ in
            eraser.objective(xt: xt, timestep: 400, conds: cond, blank: blank, shifts: [shift], variant: .separate).loss
        }
    }

    func testConceptAlsoProtectedIsRefused() {
        XCTAssertThrowsError(try Self.trained.eraser.decouple(concepts: [c1], protected: ["A Red Circle"])) { e in
            XCTAssertTrue("\(e)".contains("also listed as protected"), "\(e)")
        }
    }
}
