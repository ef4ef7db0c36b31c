import ConceptErasure
@testable import ErasureEvaluation
import Foundation
import ImageIO
import TensorEngine
import TestSupport
import Toy
import XCTest

/// Grid images made a group of prompts at a time: an interrupted run leaves the finished groups in
/// the file, and a resumed one generates only the rest, with the same images an uninterrupted run
/// makes; images made by other shifts (another maker) are not taken.
final class BenchmarkImageCheckpointTests: XCTestCase {
    func testInterruptedGridResumesFromTheSavedGroups() throws {
        var settings = ConceptEvaluator.Settings()
        settings.imagesPerPrompt = 2
        settings.steps = 2
        let evaluator = try ConceptEvaluator(
            model: try FusedShiftsTests.toyModel(), classifier: ToyClassifier.bundled(), settings: settings, modelName: "toy")
        var benchmark = BenchmarkSettings()
        benchmark.seedsPerPrompt = 2
        benchmark.steps = 2
        let key = BenchmarkOriginals.Key(benchmark)
        let prompts = ["a red circle", "a striped square", "a blue star", "a dotted heart", "a green cross"]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-checkpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var checkpoint = BenchmarkImageCheckpoint(url: folder.appendingPathComponent("images.safetensors"), maker: "toy + abc", key: key)
        checkpoint.group = 2

        let whole = try checkpoint.images(
            of: prompts, evaluator: evaluator, shifts: [], label: "whole", resume: false, observer: ErasureObserver())
        XCTAssertEqual(Set(whole.keys), Set(prompts))
        try FileManager.default.removeItem(at: checkpoint.url)

        // Stopped before the fourth prompt, inside the second group: the file holds the first group.
        var asked = 0
        evaluator.shouldStop = {
            asked += 1
            return asked > 3
        }
        XCTAssertThrowsError(
            try checkpoint.images(of: prompts, evaluator: evaluator, shifts: [], label: "stopped", resume: false, observer: ErasureObserver())
        ) { XCTAssertTrue($0 is CancellationError, "\($0)") }
        let saved = BenchmarkOriginalsFile.read(at: checkpoint.url, model: "toy + abc", key: key, prompts: [], partial: true, skipped: { _ in })
        XCTAssertEqual(saved.map { Set($0.keys) }, Set(prompts.prefix(2)))

        // Resumed: three prompts generated, the first two read back; the same images as before.
        var made: [Int] = []
        evaluator.shouldStop = { false }
        evaluator.progress = { _, done, total in
            XCTAssertEqual(total, prompts.count)
            made.append(done)
        }
        var messages: [String] = []
        var observer = ErasureObserver()
        observer.message = { messages.append($0) }
        let resumed = try checkpoint.images(of: prompts, evaluator: evaluator, shifts: [], label: "resumed", resume: true, observer: observer)
        XCTAssertEqual(resumed, whole)
        XCTAssertEqual(made.first, 2, "progress starts after the prompts read back")
        XCTAssertEqual(made.last, prompts.count)
        XCTAssertTrue(messages.contains { $0.contains("2 of 5 prompts") }, "\(messages)")

        // Images another maker (other shifts) saved are not used: everything is generated again.
        var asked2 = 0
        evaluator.shouldStop = {
            asked2 += 1
            return false
        }
        let other = BenchmarkImageCheckpoint(url: checkpoint.url, maker: "toy + def", key: key)
        XCTAssertEqual(
            try other.images(of: prompts, evaluator: evaluator, shifts: [], label: "other", resume: true, observer: ErasureObserver()), whole)
        XCTAssertEqual(asked2, prompts.count)
    }

    /// The fingerprint names what decides the images (tensors, metadata) and ignores what a
    /// retraining changes by itself (its wall time, the tool's version): a resumed benchmark that
    /// trains a target's shift again still finds the images it saved before.
    func testShiftFingerprintNamesTheTensorsAndMetadataNotTheWallTime() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-fingerprint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k"
        func write(_ name: String, delta: Float, seconds: Double = 1, tool: String = "a", concept: String = "striped") throws -> String {
            var training = TrainingRecord(iterations: 1, stopReason: .converged)
            training.seconds = seconds
            let metadata = ShiftMetadata(
                variant: .full, concepts: [concept], protectedPrompts: [], decoupledFrom: [], baseFingerprint: "0123456789abcdef",
                hyperparameters: ErasureHyperparameters(), training: training, nullSpace: nil, restorable: false, toolVersion: tool)
            let shift = ConceptShift(metadata: metadata, weights: .dense(deltas: [key: Tensor([delta, 0, 0, delta], shape: [2, 2])], biases: [:]))
            let path = folder.appendingPathComponent("\(name).sepme.safetensors").path
            try shift.write(to: path)
            return path
        }
        func fingerprint(_ paths: [String]) throws -> String {
            try BenchmarkImageCheckpoint.shiftFingerprint(paths.map { try ConceptShift.read(path: $0) })
        }
        let a = try write("a", delta: 1)
        let fa = try fingerprint([a])
        XCTAssertEqual(fa.count, 16)
        XCTAssertEqual(fa, try fingerprint([try write("retrained", delta: 1, seconds: 7, tool: "b")]))
        let b = try write("b", delta: 2)
        XCTAssertNotEqual(fa, try fingerprint([b]), "other tensors")
        XCTAssertNotEqual(fa, try fingerprint([try write("c", delta: 1, concept: "dotted")]), "other metadata")
        XCTAssertNotEqual(try fingerprint([a, b]), try fingerprint([b, a]))
        // FNV-1a of the empty input is its offset basis.
        XCTAssertEqual(try fingerprint([]), "cbf29ce484222325")
        XCTAssertThrowsError(try fingerprint([folder.appendingPathComponent("absent").path]))
        // A shift's tensors are read from its file: one removed since, or never written, is an error.
        let gone = try ConceptShift.read(path: b)
        try FileManager.default.removeItem(atPath: b)
        XCTAssertThrowsError(try BenchmarkImageCheckpoint.shiftFingerprint([gone]))
        XCTAssertThrowsError(try BenchmarkImageCheckpoint.shiftFingerprint([ConceptShift(metadata: gone.metadata, weights: gone.weights)]))
    }
}
