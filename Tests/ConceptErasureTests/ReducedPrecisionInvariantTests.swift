@testable import ConceptErasure
import Diffusion
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// The SepME invariant under `--precision bf16`: with a trained shift installed, prompts it protects
/// generate bit-identical latents in bf16 (the text encoder and the shift's projections stay fp32, so
/// the protected tokens' shift is an exact zero, and the bf16 UNet sees the same inputs), while the
/// erased concept still changes; and SepME's original predictions in bf16 stay close to fp32's.
/// Its models are smaller than the products `BF16Coverage.whereItPays` sends to bf16, so every test
/// runs with `.everyProduct` (`invokeTest`).
final class ReducedPrecisionInvariantTests: XCTestCase {
    override func invokeTest() {
        PrecisionMode.withCoverage(.everyProduct) { super.invokeTest() }
    }

    let c1 = "a red circle", c2 = "a striped blue star", watermark = "zq watermark"

    var model: ShiftSet { ErasureInvariantTests.trained.value.model }
    var shifts: [ConceptShift] { ErasureInvariantTests.trained.value.shifts }

    private func latents(_ prompt: String) throws -> [Float] {
        try model.pipeline.generate(GenerationOptions(prompts: [prompt], seed: 3, steps: 10, guidance: 5, precision: .bf16)).latents.scalars
    }

    func testProtectedPromptsExactlyUnchangedUnderBF16() throws {
        model.remove()
        let protected = [c2, watermark, ""]
        let originals = try protected.map(latents)
        let originalC1 = try latents(c1)
        try model.install([shifts[0]])
        defer { model.remove() }
        for (prompt, original) in zip(protected, originals) {
            XCTAssertEqual(
                try latents(prompt).map(\.bitPattern), original.map(\.bitPattern), "'\(prompt)' changed under the shift of '\(c1)' in bf16")
        }
        XCTAssertNotEqual(try latents(c1), originalC1, "the erased concept's bf16 generation must change")
    }

    func testOriginalPredictionsInBF16StayCloseToFP32() {
        var g = PyTorchGenerator(seed: 9)
        let xt = Tensor.randn([1, 3, 8, 8], generator: &g)
        let conds = model.pipeline.conditioning(prompts: [c1])
        let blank = model.pipeline.unconditionalConditioning(count: 1)
        func predictions(_ precision: ComputePrecision) -> (Tensor, Tensor) {
            let objective = SepMEObjective(model: model, variant: .separate, lambda: 1e-6, originalPrecision: precision)
            let start = GradMode.withNoGrad { model.pipeline.unet.textFreeStart(xt, timesteps: [400]) }
            return objective.originalPredictions(start: start, conds: conds, blank: blank)
        }
        let (r32, eps32) = predictions(.fp32)
        let (r16, eps16) = predictions(.bf16)
        let e = maxErrors(eps16, eps32)
        XCTAssertGreaterThan(e.abs, 0, "the bf16 products were used")
        XCTAssertLessThan(e.abs / max(e.refMax, 1e-12), 0.02, "blank prediction")
        let r = maxErrors(r16, r32)
        XCTAssertLessThan(r.abs, 0.02 * max(e.refMax, 1e-12), "concept direction, relative to the prediction's scale")
    }

    /// A shift records the precision of the original predictions it was trained against; files
    /// without the key read as fp32, and an unknown value is refused.
    func testShiftRecordsTheOriginalPredictionsPrecision() throws {
        let dir = try TinyErasure.temporaryDirectory("bf16-record")
        defer { try? FileManager.default.removeItem(at: dir) }
        var h = TinyErasure.hyperparameters(maxIterations: 2)
        h.beta = 1e-2
        let plan = try ErasurePlan(concepts: [c1], protectedPrompts: [watermark], hyperparameters: h)
        let model = try TinyErasure.model()
        let path = try XCTUnwrap(
            try ErasureRun(plan: plan, output: dir, checkpoints: .onInterruption, originalPrecision: .bf16).run(on: model).first)
        XCTAssertEqual(try ConceptShift.read(path: path).metadata.training.originalPrecision, "bf16")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingRecord())) as? [String: Any])
        json["original_precision"] = nil
        let old = try JSONDecoder().decode(TrainingRecord.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(old.originalPrecision, "fp32")
        json["original_precision"] = "fp8"
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingRecord.self, from: JSONSerialization.data(withJSONObject: json)))
    }
}
