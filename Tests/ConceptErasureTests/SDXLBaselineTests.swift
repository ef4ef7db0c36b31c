@testable import ConceptErasure
import Diffusion
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// Every erasure method runs on the tiny SDXL folder through `ErasureRun`: each writes a shift that
/// records the SDXL family, changes the concept's keys and values, and installs back; SepME's
/// `--train-size` trains on smaller images, whose time ids follow the latents' size.
final class SDXLBaselineTests: XCTestCase {
    let concept = "a red circle"

    func run(_ plan: ErasurePlan, _ label: String) throws -> (ShiftSet, ConceptShift) {
        let model = try TinyErasure.sdxlModel()
        let dir = try TinyErasure.temporaryDirectory(label)
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = try ErasureRun(plan: plan, output: dir).run(on: model)
        XCTAssertEqual(paths.count, 1)
        let shift = try ConceptShift.read(path: paths[0])
        XCTAssertEqual(shift.metadata.modelFamily, .stableDiffusionXL, label)
        XCTAssertEqual(shift.metadata.contextWidth, 64, label)
        try model.install([shift])
        model.remove()
        return (model, shift)
    }

    /// max over key/value projections of |ΔW E(c)ᵀ| / |W E(c)ᵀ| for the concept's context.
    func conceptChange(_ model: ShiftSet, _ shift: ConceptShift) -> Float {
        let e = model.pipeline.conditioning(prompts: [concept]).context.reshaped([-1, model.contextWidth])
        return GradMode.withNoGrad {
            model.projections.keyValueProjections.map { key, linear -> Float in
                guard let d = shift.weightDelta(for: key) else { return 0 }
                return Tensor.linear(e, weight: d).abs().sum().item / Tensor.linear(e, weight: linear.weight).abs().sum().item
            }.max() ?? 0
        }
    }

    func testUCE() throws {
        let (model, shift) = try run(ErasurePlan(method: .uce, concepts: [concept], protectedPrompts: ["zq watermark"]), "sdxl-uce")
        XCTAssertEqual(shift.deltas.count, 34)
        XCTAssertGreaterThan(conceptChange(model, shift), 1e-3)
    }

    func testESDX() throws {
        var h = TinyErasure.hyperparameters(generationSteps: 2)
        h.images = 1
        let plan = try ErasurePlan(
            method: .esdX, concepts: [concept], hyperparameters: h, esd: ESDOptions(learningRate: 1e-2, iterations: 3))
        let (model, shift) = try run(plan, "sdxl-esd")
        XCTAssertEqual(shift.metadata.training.iterations, 3)
        XCTAssertGreaterThan(conceptChange(model, shift), 1e-3)
    }

    func testCA() throws {
        var h = TinyErasure.hyperparameters(generationSteps: 2)
        h.images = 1
        let plan = try ErasurePlan(
            method: .ca, concepts: [concept], hyperparameters: h, ca: CAOptions(anchor: "a circle", learningRate: 1e-2, iterations: 3, images: 1))
        let (model, shift) = try run(plan, "sdxl-ca")
        XCTAssertEqual(shift.metadata.training.iterations, 3)
        XCTAssertGreaterThan(conceptChange(model, shift), 1e-3)
    }

    /// `trainSize` 8: 4×4 latents of 8×8 images, time ids (8, 8, 0, 0, 8, 8), recorded in the shift.
    func testSepMEAtATrainSize() throws {
        var h = TinyErasure.hyperparameters(maxIterations: 4, beta: 3e-2, generationSteps: 2)
        h.trainSize = 8
        let plan = try ErasurePlan(concepts: [concept], protectedPrompts: ["zq watermark"], hyperparameters: h)
        let model = try TinyErasure.sdxlModel()
        let latents = try TinyErasure.latents(plan, model: model)
        XCTAssertEqual(latents[0].latents[0].shape, [1, 4, 4, 4])
        let added = model.pipeline.addedConditions(for: model.pipeline.conditioning(prompts: [concept]), latentHeight: 4, latentWidth: 4)
        XCTAssertEqual(added?.timeIds.scalars, [8, 8, 0, 0, 8, 8])
        let (trained, shift) = try run(plan, "sdxl-train-size")
        XCTAssertEqual(shift.metadata.hyperparameters.trainSize, 8)
        XCTAssertGreaterThan(conceptChange(trained, shift), 1e-3)
    }
}
