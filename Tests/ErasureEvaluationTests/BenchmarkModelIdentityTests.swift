import ConceptErasure
import Diffusion
@testable import ErasureEvaluation
import Toy
import XCTest

/// A benchmark's saved rows name the model by its weights, not by its folder: a copy of the model
/// folder elsewhere resumes them, a model with one weight changed is refused.
final class BenchmarkModelIdentityTests: XCTestCase {
    func benchmark(_ model: ShiftSet, path: String) throws -> ErasureBenchmark {
        var settings = BenchmarkSettings()
        settings.styles = ["striped"]
        return try ErasureBenchmark(settings: settings, model: model, classifier: ToyClassifier.bundled(), modelName: path)
    }

    func testRowsFollowTheModelNotItsFolder() throws {
        let bundled = try XCTUnwrap(ToyModelFolder.bundled)
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-identity-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.copyItem(at: bundled, to: copy)
        let original = try benchmark(FusedShiftsTests.toyModel(), path: bundled.path)
        let moved = try benchmark(ShiftSet(pipeline: StableDiffusionPipeline(folder: ModelFolder(path: copy.path))), path: copy.path)
        XCTAssertNotEqual(original.modelName, moved.modelName)
        XCTAssertEqual(original.modelIdentity, moved.modelIdentity)
        XCTAssertTrue(original.modelIdentity.hasPrefix("weights "))

        let row = copy.appendingPathComponent("row.json")
        try original.save(0.25, at: row)
        XCTAssertEqual(try moved.saved(Double.self, at: row), 0.25)

        // One weight of the UNet (no text encoder, no cross-attention projection) changed by one ulp.
        let changed = try FusedShiftsTests.toyModel()
        let (key, weight) = try XCTUnwrap(changed.pipeline.unet.namedParameters().first { $0.0.contains("conv_in") })
        weight.pointer[0] = weight.pointer[0].nextUp
        let other = try benchmark(changed, path: bundled.path)
        XCTAssertNotEqual(other.modelIdentity, original.modelIdentity, key)
        XCTAssertEqual(changed.fingerprint, try FusedShiftsTests.toyModel().fingerprint, "the shift fingerprint does not cover \(key)")
        XCTAssertThrowsError(try other.saved(Double.self, at: row)) {
            XCTAssertTrue("\($0)".contains(row.path) && "\($0)".contains("another model (\(original.modelIdentity)"), "\($0)")
        }
    }
}
