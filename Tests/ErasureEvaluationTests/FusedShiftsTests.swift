import ConceptErasure
import Diffusion
@testable import ErasureEvaluation
import Foundation
import ImageIO
import NeuralNet
import TensorEngine
import TestSupport
import Toy
import XCTest

/// Shifts baked into the weights for the evaluation (`ShiftSet.withShiftsFused`): done on the evaluator's model
/// and undone bit-exactly, equal to what `ShiftSet.fuse` (`sepme apply`) makes, and reported as a
/// direct comparison with a fused model gives it.
final class FusedShiftsTests: XCTestCase {
    static let striped = "a striped square"
    static let red = "a red circle"

    /// Two shifts (separate variant, watermark protected) trained briefly on the embedded toy model
    /// with a large β, so the striped prompt's images visibly change.
    static let erased = SharedTestValue<(model: ShiftSet, shifts: [ConceptShift])> {
        do {
            let model = try toyModel()
            var h = ErasureHyperparameters()
            h.images = 2
            h.generationSteps = 3
            h.generationGuidance = 4
            h.maxIterations = 6
            h.minIterations = 2
            h.beta = 0.05
            h.seed = 1
            let plan = try ErasurePlan(
                concepts: [striped, red], protectedPrompts: [ToyConcepts.watermarkPrompt], variant: .separate, hyperparameters: h)
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-baked-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let shifts = try ErasureRun(plan: plan, output: folder).run(on: model).map { try ConceptShift.read(path: $0) }
            return (model, shifts)
        } catch { fatalError("training the shared shifts failed: \(error)") }
    }

    static func toyModel() throws -> ShiftSet {
        guard let url = ToyModelFolder.bundled else { throw EvaluationError.invalidArgument("Sources/Toy/Resources/toy-model is missing") }
        return try ShiftSet(pipeline: StableDiffusionPipeline(folder: ModelFolder(path: url.path)))
    }

    var model: ShiftSet { Self.erased.value.model }
    var kept: ConceptShift { Self.erased.value.shifts.first { $0.name == Self.striped }! }
    var restored: ConceptShift { Self.erased.value.shifts.first { $0.name == Self.red }! }

    /// Every weight of every cross-attention projection, by key.
    func weights(_ model: ShiftSet) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: model.projections.allProjections.map { ($0.0, $0.1.weight.scalars) })
    }

    /// A second copy of the toy model with `shifts` fused into its weights, as `sepme apply` does.
    func fusedModel(_ shifts: [ConceptShift]) throws -> ShiftSet {
        let fused = try Self.toyModel()
        try fused.install(shifts)
        fused.fuse()
        return fused
    }

    func testBakingIsUndoneBitExactlyAndRestoresTheInstalledShifts() throws {
        try model.install([restored])
        defer { model.remove() }
        let before = weights(model)
        let fingerprint = model.fingerprint
        let changedInside = try model.withShiftsFused([kept]) { () -> Int in
            XCTAssertTrue(model.projections.allProjections.allSatisfy { $0.1.adapter == nil }, "adapters act while baked")
            return weights(model).filter { before[$0.key] != $0.value }.count
        }
        XCTAssertEqual(changedInside, kept.projectionKeys.count, "the bake must change exactly the shift's projections")
        XCTAssertEqual(weights(model), before)
        XCTAssertEqual(model.installed.map(\.name), [Self.red])
        XCTAssertEqual(model.fingerprint, fingerprint)
        XCTAssertNotNil(model.projections.keyValueProjections[0].1.adapter)

        struct Failure: Error {}
        XCTAssertThrowsError(try model.withShiftsFused([kept, restored]) { () -> Int in throw Failure() })
        XCTAssertEqual(weights(model), before, "a throwing body must leave the weights as they were")
    }

    func testBakedWeightsAreThoseOfAFusedModel() throws {
        let fused = weights(try fusedModel([kept, restored]))
        let baked = try model.withShiftsFused([kept, restored]) { weights(model) }
        XCTAssertEqual(baked, fused)
        XCTAssertNotEqual(baked, weights(model))
    }

    func testBakedImagesAreTheFusedModelsImages() throws {
        var settings = ConceptEvaluator.Settings()
        settings.imagesPerPrompt = 2
        settings.steps = 3
        let evaluator = try ConceptEvaluator(model: model, classifier: ToyClassifier.bundled(), settings: settings, modelName: "toy")
        let prompts = try [Self.striped, ToyConcepts.watermarkPrompt].map(EvaluationPrompt.init)
        let baked = try evaluator.generateBaked(prompts, shifts: [kept], label: "baked")
        let fused = try ConceptEvaluator(model: fusedModel([kept]), classifier: ToyClassifier.bundled(), settings: settings, modelName: "fused")
        XCTAssertEqual(baked, try fused.generate(prompts, shifts: [], label: "fused"))
        let original = try evaluator.generate(prompts, shifts: [], label: "original")
        XCTAssertNotEqual(baked[0], original[0], "the striped prompt must change, or the comparison above proves nothing")
    }

    func testReportsBakedSectionIsADirectComparisonAndLeavesTheModelUnchanged() throws {
        var settings = ConceptEvaluator.Settings()
        settings.imagesPerPrompt = 2
        settings.steps = 3
        settings.compareBaked = true
        let evaluator = try ConceptEvaluator(model: model, classifier: ToyClassifier.bundled(), settings: settings, modelName: "toy")
        let texts = [Self.striped, Self.red, ToyConcepts.watermarkPrompt, ""]
        let before = weights(model)
        let (report, images) = try evaluator.evaluate(prompts: texts, shifts: [kept], restore: [restored])
        XCTAssertEqual(weights(model), before, "the evaluator's model must be bit-identical after the baked comparison")
        XCTAssertTrue(model.installed.isEmpty)

        let baked = try XCTUnwrap(report.baked)
        XCTAssertEqual(baked.shifts, [Self.striped])
        XCTAssertEqual(baked.adapterState, "restored")
        // The erased prompt is not among those the kept shift should leave alone.
        XCTAssertEqual(baked.prompts.map(\.prompt), [Self.red, ToyConcepts.watermarkPrompt, ""])
        XCTAssertEqual(baked.prompts.map(\.group), ["restored", "protected", "protected"])

        let fused = try ConceptEvaluator(model: fusedModel([kept]), classifier: ToyClassifier.bundled(), settings: settings, modelName: "fused")
        let fusedImages = try fused.generate(try texts.dropFirst().map(EvaluationPrompt.init), shifts: [], label: "fused")
        for (j, row) in baked.prompts.enumerated() {
            let i = j + 1
            let (original, adapter, direct) = (images[0][i], images[2][i], fusedImages[j])
            func levels(_ a: [RGBImage], _ b: [RGBImage]) -> (same: Int, worst: Int) {
                var worst = 0
                var same = 0
                for (x, y) in zip(a, b) {
                    let d = zip(x.pixels, y.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
                    worst = max(worst, d)
                    if x.pixels == y.pixels { same += 1 }
                }
                return (same, worst)
            }
            let toOriginal = levels(direct, original)
            let toAdapter = levels(direct, adapter)
            XCTAssertEqual(row.identicalImages, toOriginal.same, row.prompt)
            XCTAssertEqual(row.maxAbsLevelDiff, toOriginal.worst, row.prompt)
            XCTAssertEqual(row.identical8bit, toOriginal.same == 2, row.prompt)
            XCTAssertEqual(row.identicalToAdapterImages, toAdapter.same, row.prompt)
            XCTAssertEqual(row.maxAbsLevelDiffToAdapter, toAdapter.worst, row.prompt)
            XCTAssertEqual(row.adapterMaxAbsLevelDiff, levels(adapter, original).worst, row.prompt)
            XCTAssertEqual(row.adapterIdenticalImages, levels(adapter, original).same, row.prompt)
            let values = zip(direct, original).reduce(0) { n, p in n + zip(p.0.pixels, p.1.pixels).filter { $0 != $1 }.count }
            XCTAssertEqual(row.differingValues, values, row.prompt)
        }
        let json = String(decoding: try report.json(), as: UTF8.self)
        XCTAssertTrue(json.contains("\"max_abs_level_diff_to_adapter\""))
        XCTAssertEqual(try JSONDecoder().decode(EvaluationReport.self, from: report.json()), report)
        XCTAssertTrue(report.markdown(grid: nil).contains("## baked"))
    }

    func testPromptResultCountsIdenticalImagesAndLargestLevelDifference() {
        let a = RGBImage(width: 2, height: 2, fill: 10)
        var b = a
        b.pixels[5] = 13
        var c = a
        c.pixels[0] = 3
        let row = BakedComparison.PromptResult(prompt: "", group: "protected", baked: [a, b], adapter: [a, c], original: [a, a])
        XCTAssertEqual(row.identicalImages, 1)
        XCTAssertFalse(row.identical8bit)
        XCTAssertEqual(row.maxAbsLevelDiff, 3)
        XCTAssertEqual(row.differingValues, 1)
        XCTAssertFalse(row.adapterIdentical8bit)
        XCTAssertEqual(row.adapterIdenticalImages, 1)
        XCTAssertEqual(row.adapterMaxAbsLevelDiff, 7)
        XCTAssertEqual(row.identicalToAdapterImages, 1)
        XCTAssertEqual(row.maxAbsLevelDiffToAdapter, 7)
        XCTAssertEqual(ImageMetrics.maxAbsoluteLevelDifference(b, c), 7)
    }
}
