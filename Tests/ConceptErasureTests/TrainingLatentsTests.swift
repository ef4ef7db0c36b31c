@testable import ConceptErasure
import Diffusion
import Foundation
import ImageIO
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// Training images: generated ones are cached by seed (a rerun reads them back), user images are
/// encoded, and bad folders are named.
final class TrainingLatentsTests: XCTestCase {
    static let shared = SharedTestValue { try! StableDiffusionPipeline(folder: ModelFolder(path: TinyErasure.folder)) }
    static var pipeline: StableDiffusionPipeline { shared.value }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-latents-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testGeneratedLatentsAreCachedAndReread() throws {
        let cache = try temporaryDirectory()
        var h = ErasureHyperparameters()
        h.generationSteps = 3
        h.seed = 7
        h.images = 2
        let images = TrainingImages(pipeline: Self.pipeline, hyperparameters: h, fingerprint: "f", cache: cache, observer: ErasureObserver())
        let first = try images.generated(prompts: ["a red circle"])
        XCTAssertEqual(first.seeds, [7, 8])
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted()
        XCTAssertEqual(files.count, 2)
        // Each entry records the seconds its generation took; the latents' total is their sum.
        let recorded = try files.map {
            try XCTUnwrap(SafeTensorsFile(path: cache.appendingPathComponent($0).path).metadata["seconds"].flatMap(Double.init))
        }
        XCTAssertTrue(recorded.allSatisfy { $0 > 0 })
        XCTAssertEqual(first.generationSeconds, recorded[0] + recorded[1])
        // Overwrite one cached file: a rerun must read it instead of regenerating.
        var w = SafeTensorsWriter()
        try w.add("latents", shape: [1, 3, 8, 8], floats: [Float](repeating: 0.25, count: 192))
        try w.write(to: cache.appendingPathComponent(files[0]).path)
        let second = try images.generated(prompts: ["a red circle"])
        XCTAssertTrue(second.latents.contains { $0.scalars.allSatisfy { $0 == 0.25 } })
        XCTAssertTrue(second.latents.contains { $0.scalars == first.latents[1].scalars })
        // Read from the cache, an image counts the seconds its file records (none: 0), not this read's.
        XCTAssertEqual(second.generationSeconds, recorded[1])
        // A corrupt cache entry (non-finite values) is regenerated, not trained on.
        try w.write(to: cache.appendingPathComponent(files[0]).path)
        var nan = SafeTensorsWriter()
        try nan.add("latents", shape: [1, 3, 8, 8], floats: [Float](repeating: .nan, count: 192))
        try nan.write(to: cache.appendingPathComponent(files[1]).path)
        let third = try images.generated(prompts: ["a red circle"])
        XCTAssertEqual(third.latents[1].scalars, first.latents[1].scalars)
        // Generation stops between denoising steps when asked to.
        var stopping = ErasureObserver()
        stopping.shouldStop = { true }
        let stopped = TrainingImages(pipeline: Self.pipeline, hyperparameters: h, fingerprint: "f", cache: nil, observer: stopping)
        XCTAssertThrowsError(try stopped.generated(prompts: ["a blue star"])) { e in
            guard case ErasureError.interrupted = e else { return XCTFail("\(e)") }
        }
    }

    private func images() -> TrainingImages {
        TrainingImages(pipeline: Self.pipeline, hyperparameters: ErasureHyperparameters(), fingerprint: "f", cache: nil, observer: ErasureObserver())
    }

    func testUserImagesAreEncodedAndBadFoldersNamed() throws {
        let dir = try temporaryDirectory()
        var img = RGBImage(width: 8, height: 8)
        for i in 0..<img.pixels.count { img.pixels[i] = UInt8(i % 256) }
        try PNG.write(img, to: dir.appendingPathComponent("a.png").path)
        try PNG.write(RGBImage(width: 8, height: 8, fill: 255), to: dir.appendingPathComponent("b.png").path)
        let latents = try images().fromFolder(dir)
        XCTAssertEqual(latents.latents.count, 2)
        XCTAssertEqual(latents.latents[1].shape, [1, 3, 8, 8])
        XCTAssertTrue(latents.latents[1].scalars.allSatisfy { $0 == 1 }, "a pixel-space model's latents are the pixels in [-1, 1]")

        let empty = try temporaryDirectory()
        XCTAssertThrowsError(try images().fromFolder(empty)) { e in
            XCTAssertTrue("\(e)".contains(empty.path) && "\(e)".contains("no PNG"), "\(e)")
        }
        try PNG.write(RGBImage(width: 9, height: 8), to: empty.appendingPathComponent("c.png").path)
        XCTAssertThrowsError(try images().fromFolder(empty)) { e in
            XCTAssertTrue("\(e)".contains("9x8") && "\(e)".contains("8x8"), "\(e)")
        }
    }

    /// `trainSize` (erase --train-size): images are generated at that side, cached apart from the
    /// native size's, and user images must have it.
    func testTrainSizeGeneratesSmallerOrLargerImagesCachedApart() throws {
        let cache = try temporaryDirectory()
        var h = ErasureHyperparameters()
        h.generationSteps = 2
        h.images = 1
        let native = try TrainingImages(pipeline: Self.pipeline, hyperparameters: h, fingerprint: "f", cache: cache, observer: ErasureObserver())
            .generated(prompts: ["a red circle"])
        h.trainSize = 16
        let sized = TrainingImages(pipeline: Self.pipeline, hyperparameters: h, fingerprint: "f", cache: cache, observer: ErasureObserver())
        let large = try sized.generated(prompts: ["a red circle"])
        XCTAssertEqual(native.latents[0].shape, [1, 3, 8, 8])
        XCTAssertEqual(large.latents[0].shape, [1, 3, 16, 16])
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted()
        XCTAssertEqual(files.count, 2, "each size has its own cache entry: \(files)")
        XCTAssertEqual(files.filter { $0.contains("-px16-") }.count, 1, "\(files)")
        XCTAssertEqual(try sized.generated(prompts: ["a red circle"]).latents[0].scalars, large.latents[0].scalars)

        let dir = try temporaryDirectory()
        try PNG.write(RGBImage(width: 8, height: 8), to: dir.appendingPathComponent("a.png").path)
        XCTAssertThrowsError(try sized.fromFolder(dir)) { e in
            XCTAssertTrue("\(e)".contains("8x8") && "\(e)".contains("16x16"), "\(e)")
        }
        h.trainSize = 0
        XCTAssertThrowsError(try h.validate()) { e in XCTAssertTrue("\(e)".contains("train_size"), "\(e)") }
    }
}
