@testable import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// Training runs end to end on the tiny model: interruption and exact resumption, NaN losses, the
/// joint and full variants, fingerprints, and failed writes.
final class ErasureRunTests: XCTestCase {
    static let folder = ErasureInvariantTests.folder
    let c1 = "a red circle", c2 = "a striped blue star"

    private func makeEraser(maxIterations: Int = 12, beta: Double = 1e-2) throws -> (StableDiffusionPipeline, ConceptEraser) {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: Self.folder))
        var h = ErasureHyperparameters()
        h.images = 2
        h.generationSteps = 3
        h.maxIterations = maxIterations
        h.beta = beta
        return (pipeline, try ConceptEraser(pipeline: pipeline, hyperparameters: h))
    }

    private func jobs(_ eraser: ConceptEraser, _ concepts: [String], latents: TrainingLatents? = nil) throws -> [ConceptEraser.ConceptJob] {
        let decouplings = try eraser.decouple(concepts: concepts, protected: ["zq watermark"])
        return try zip(concepts, decouplings).map { c, d in
            .init(name: c, decoupling: d, latents: try latents ?? TrainingLatents.generated(
                pipeline: eraser.pipeline, prompt: c, count: 2, hyperparameters: eraser.hyperparameters,
                fingerprint: eraser.fingerprint, cacheDirectory: nil))
        }
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testInterruptedRunResumesToTheSameShift() throws {
        let (_, straight) = try makeEraser()
        let expected = try straight.train(jobs(straight, [c1]), variant: .separate, protected: ["zq watermark"])[0]

        let dir = try temporaryDirectory()
        let (_, first) = try makeEraser()
        first.checkpointDirectory = dir
        first.checkpointEvery = 0
        var calls = 0
        first.shouldStop = { calls += 1; return calls > 5 }
        let firstJobs = try jobs(first, [c1])
        XCTAssertThrowsError(try first.train(firstJobs, variant: .separate, protected: ["zq watermark"])) { e in
            guard case ErasureError.interrupted(let path?) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "the checkpoint is on disk")
        }
        let (_, second) = try makeEraser()
        second.checkpointDirectory = dir
        second.resume = true
        let resumed = try second.train(jobs(second, [c1]), variant: .separate, protected: ["zq watermark"])[0]
        XCTAssertEqual(resumed.metadata.training.iterations, 12)
        for key in expected.projectionKeys {
            assertClose(resumed.factors[key]!, expected.factors[key]!, rtol: 1e-5, "resumed factor \(key)")
        }
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "the checkpoint is removed after success")
    }

    func testNaNLossStopsWithTheIterationAndKeepsTheCheckpoint() throws {
        let dir = try temporaryDirectory()
        let (_, eraser) = try makeEraser()
        eraser.checkpointDirectory = dir
        let bad = TrainingLatents(latents: [Tensor(filled: .nan, shape: [1, 3, 8, 8])], seeds: [0])
        XCTAssertThrowsError(try eraser.train(jobs(eraser, [c1], latents: bad), variant: .separate, protected: [])) { e in
            guard case ErasureError.nonFiniteLoss(_, let iteration, let path?) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(iteration, 1)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            XCTAssertTrue("\(e)".contains("iteration 1"), "\(e)")
        }
    }

    func testJointVariantTrainsBothAndFreezesEachOnItsOwn() throws {
        let (_, eraser) = try makeEraser(maxIterations: 10)
        let shifts = try eraser.train(jobs(eraser, [c1, c2]), variant: .joint, protected: ["zq watermark"])
        XCTAssertEqual(shifts.map(\.name), [c1, c2])
        for s in shifts {
            XCTAssertEqual(s.metadata.variant, .joint)
            XCTAssertTrue(s.metadata.restorable)
            XCTAssertEqual(s.metadata.training.iterations, 10)
            XCTAssertGreaterThan(s.factors.values.map { $0.abs().sum().item }.reduce(0, +), 0)
        }
    }

    func testFullVariantIsMarkedNotRestorable() throws {
        let (_, eraser) = try makeEraser(maxIterations: 10)
        var h = eraser.hyperparameters
        h.learningRate = 1e-3
        let pipeline = eraser.pipeline
        let full = try ConceptEraser(pipeline: pipeline, hyperparameters: h)
        let s = try full.train(jobs(full, [c1]), variant: .full, protected: [])[0]
        XCTAssertFalse(s.metadata.restorable)
        XCTAssertNil(s.basis)
        XCTAssertEqual(Set(s.deltas.keys).count, 4 * full.projections.layers.count, "q, k, v and out of every attn2")
        let path = try temporaryDirectory().appendingPathComponent("full.sepme.safetensors").path
        try s.write(to: path)
        XCTAssertFalse(try ConceptShift.read(path: path).metadata.restorable)
    }

    func testShiftForAnotherBaseModelIsRefusedUnlessForced() throws {
        let (pipeline, eraser) = try makeEraser(maxIterations: 10)
        let shift = try eraser.train(jobs(eraser, [c1]), variant: .separate, protected: [])[0]
        // Another base model: same architecture, a perturbed text encoder.
        let weight = pipeline.textEncoder.parameters()[0]
        weight.pointer[0] += 0.5
        XCTAssertThrowsError(try ShiftInstaller.install([shift], on: pipeline, force: false)) { e in
            XCTAssertTrue("\(e)".contains("fingerprint") && "\(e)".contains("--force"), "\(e)")
        }
        XCTAssertNoThrow(try ShiftInstaller.install([shift], on: pipeline, force: true))
    }

    func testFailedWriteLeavesNoFile() throws {
        let (_, eraser) = try makeEraser(maxIterations: 10)
        let shift = try eraser.train(jobs(eraser, [c1]), variant: .separate, protected: [])[0]
        XCTAssertThrowsError(try shift.write(to: "/nonexistent-dir/a.sepme.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent-dir/a.sepme.safetensors"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent-dir/a.sepme.safetensors"))
    }
}
