import Foundation
import SafeTensors
import TensorEngine
import XCTest
@testable import Toy

final class ToyClassifierTests: XCTestCase {
    /// The committed classifier reaches >= 98 % on every head on fresh pictures (data seeds never used
    /// for training: training uses seed 0, its test set seed 0 ^ 0x7E57...).
    func testBundledClassifierAccuracy() throws {
        let model = try ToyClassifier.bundled()
        let attributes = ToyClassifierTraining.evaluate(model, dataset: ToyDataset(seed: 20_250_517, watermarkPerMille: 0), count: 512)
        XCTAssertGreaterThanOrEqual(attributes.shape, 0.98, "\(attributes)")
        XCTAssertGreaterThanOrEqual(attributes.colour, 0.98, "\(attributes)")
        XCTAssertGreaterThanOrEqual(attributes.style, 0.98, "\(attributes)")
        let watermark = ToyClassifierTraining.evaluate(model, dataset: ToyDataset(seed: 31_415, watermarkPerMille: 250), count: 512)
        XCTAssertGreaterThan(watermark.watermarkCount, 80)
        XCTAssertGreaterThanOrEqual(watermark.watermark, 0.98, "\(watermark)")
        XCTAssertGreaterThanOrEqual(attributes.watermark, 0.98, "\(attributes)")
    }

    /// Every style is read on every shape: 16 fresh pictures of each (style, shape) pair (colours in
    /// turn), clean and degraded as generated pictures are.
    func testBundledClassifierReadsEveryStyleOnEveryShape() throws {
        let model = try ToyClassifier.bundled()
        let clean = ToyClassifierPairAccuracy.measure(model, dataset: ToyDataset(seed: 8_642), picturesPerPair: 16)
        XCTAssertEqual(clean.correct.count, ToyConcepts.styles.count)
        XCTAssertEqual(clean.correct[0].count, ToyConcepts.shapes.count)
        XCTAssertGreaterThanOrEqual(clean.worst.accuracy, 0.9375, clean.summary)
        let degraded = ToyClassifierPairAccuracy.measure(model, dataset: ToyDataset(seed: 8_643), picturesPerPair: 16, augmentSeed: 5)
        XCTAssertGreaterThanOrEqual(degraded.worstStyleAndShape.style, 0.8125, degraded.summary)
        XCTAssertGreaterThanOrEqual(degraded.worstStyleAndShape.shape, 0.8125, degraded.summary)
    }

    /// The per-pair counts against hand-made predictions: a model whose style head always says
    /// "solid" is right exactly on the solid row.
    func testPairAccuracyCountsPerPair() {
        var correct = Array(
            repeating: Array(repeating: (shape: 4, colour: 4, style: 0, all: 0), count: ToyConcepts.shapes.count),
            count: ToyConcepts.styles.count)
        correct[0] = correct[0].map { _ in (shape: 4, colour: 4, style: 4, all: 4) }
        correct[0][3] = (shape: 1, colour: 4, style: 4, all: 1)
        let pairs = ToyClassifierPairAccuracy(picturesPerPair: 4, correct: correct)
        XCTAssertEqual(pairs.accuracy(style: 0, shape: 0), 1)
        XCTAssertEqual(pairs.accuracy(style: 0, shape: 3), 0.25)
        XCTAssertEqual(pairs.worst.style, 1)
        XCTAssertEqual(pairs.worst.shape, 0)
        XCTAssertEqual(pairs.worst.accuracy, 0)
        XCTAssertEqual(pairs.worstStyleAndShape.style, 0)
        XCTAssertEqual(pairs.worstStyleAndShape.shape, 0.25)
    }

    func testFeaturesAndLogitShapes() throws {
        let model = ToyClassifier(configuration: .init(width: 4), seed: 1)
        let batch = ToyDataset(seed: 1).batch(start: 0, count: 3)
        XCTAssertEqual(model.features(batch.images).shape, [3, 16])
        let l = model(batch.images)
        XCTAssertEqual(
            [l.shape.shape, l.colour.shape, l.style.shape, l.watermark.shape],
            [[3, ToyConcepts.shapes.count], [3, 7], [3, ToyConcepts.styles.count], [3, 2]])
    }

    func testCrossEntropyMatchesDefinition() {
        // -log softmax(x)[label] averaged over masked rows, computed here in Double.
        let x: [Float] = [0.5, -1, 2, 3, 0, -0.5, 10, 10.5, 9]
        let labels = [2, 0, 1]
        let mask = [true, true, false]
        let loss = ToyClassifierTraining.crossEntropy(Tensor(x, shape: [3, 3]), labels: labels, mask: mask).item
        var expected = 0.0
        for r in 0..<2 {
            let row = x[(r * 3)..<(r * 3 + 3)].map(Double.init)
            expected += Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +)) - row[labels[r]]
        }
        XCTAssertEqual(Double(loss), expected / 2, accuracy: 1e-5)
    }

    func testSaveLoadRoundTripAndStrictLoading() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("toy-classifier-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = ToyClassifier(configuration: .init(width: 4), seed: 3)
        let path = dir.appendingPathComponent("c.safetensors").path
        try model.save(path: path)
        let loaded = try ToyClassifier.load(path: path)
        XCTAssertEqual(loaded.configuration, model.configuration)
        let images = ToyDataset(seed: 4).batch(start: 0, count: 4).images
        XCTAssertEqual(loaded.features(images).scalars, model.features(images).scalars)

        // A file missing one key, and one without the architecture metadata, are refused with a reason.
        let file = try SafeTensorsFile(path: path)
        var partial = SafeTensorsWriter()
        for key in file.keys where key != "style_head.bias" {
            try partial.add(key, shape: try file.info(key).shape, floats: try file.floats(key))
        }
        let partialPath = dir.appendingPathComponent("partial.safetensors").path
        try partial.write(to: partialPath, metadata: file.metadata)
        XCTAssertThrowsError(try ToyClassifier.load(path: partialPath)) { error in
            XCTAssert("\(error)".contains("style_head.bias"), "\(error)")
        }
        let bare = dir.appendingPathComponent("bare.safetensors").path
        try partial.write(to: bare)
        XCTAssertThrowsError(try ToyClassifier.load(path: bare)) { error in
            XCTAssert("\(error)".contains(ToyClassifier.configurationKey), "\(error)")
        }
    }

    func testBundledClassifierFileIsSmallAndDescribed() throws {
        let url = try XCTUnwrap(ToyClassifier.bundledURL)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        XCTAssertLessThanOrEqual(size, 5_000_000)
        let file = try SafeTensorsFile(path: url.path)
        XCTAssertNotNil(file.metadata[ToyClassifier.configurationKey])
        XCTAssertNotNil(file.metadata["test_accuracy"])
    }
}
