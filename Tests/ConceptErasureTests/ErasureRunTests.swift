@testable import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// Training runs end to end on the tiny model: interruption and exact resumption, refused resumes,
/// NaN losses, the full variant's restorability, fingerprints, locks and failed writes.
final class ErasureRunTests: XCTestCase {
    let c1 = "a red circle", c2 = "a striped blue star"

    private func plan(
        _ concepts: [String], variant: ErasureVariant = .separate, maxIterations: Int = 12,
        lr: Double? = nil, protected: [String] = ["zq watermark"]
    ) throws -> ErasurePlan {
        var h = TinyErasure.hyperparameters(maxIterations: maxIterations, variant: variant)
        if let lr { h.learningRate = lr }
        return try ErasurePlan(concepts: concepts, protectedPrompts: protected, variant: variant, hyperparameters: h)
    }

    private func temporaryDirectory() throws -> URL {
        let url = try TinyErasure.temporaryDirectory("run")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testInterruptedRunResumesToTheSameShift() throws {
        let model = try TinyErasure.model()
        let p = try plan([c1])
        let latents = try TinyErasure.latents(p, model: model)
        let expected = try TinyErasure.train(p, model: model, latents: latents)[0]

        let dir = try temporaryDirectory()
        XCTAssertThrowsError(
            try TinyErasure.train(p, model: model, latents: latents, directory: dir, shouldStop: TinyErasure.stop(afterPolls: 5))
        ) { e in
            guard case ErasureError.interrupted(let path?) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "the checkpoint is on disk")
        }
        let resumed = try TinyErasure.train(p, model: model, latents: latents, directory: dir, resume: true)[0]
        XCTAssertEqual(resumed.metadata.training.iterations, 12)
        for key in expected.projectionKeys {
            XCTAssertEqual(resumed.factors[key]!.scalars, expected.factors[key]!.scalars, "resumed factor \(key) is bit-identical")
        }
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "the checkpoint is removed after success")
    }

    /// A resume with other settings would write a shift whose metadata misstates its training.
    func testResumeWithOtherSettingsIsRefused() throws {
        let model = try TinyErasure.model()
        let p = try plan([c1])
        let latents = try TinyErasure.latents(p, model: model)
        let dir = try temporaryDirectory()
        XCTAssertThrowsError(
            try TinyErasure.train(p, model: model, latents: latents, directory: dir, shouldStop: TinyErasure.stop(afterPolls: 3)))
        let otherLR = try plan([c1], lr: 0.05)
        XCTAssertThrowsError(try TinyErasure.train(otherLR, model: model, latents: latents, directory: dir, resume: true)) { e in
            XCTAssertTrue("\(e)".contains("lr 0.1") && "\(e)".contains("this run: 0.05"), "\(e)")
        }
        let otherProtected = try plan([c1], protected: ["a blue star"])
        XCTAssertThrowsError(try TinyErasure.train(otherProtected, model: model, latents: latents, directory: dir, resume: true)) { e in
            XCTAssertTrue("\(e)".contains("protected"), "\(e)")
        }
        // A larger iteration budget is a legitimate resume.
        let longer = try plan([c1], maxIterations: 14)
        XCTAssertEqual(
            try TinyErasure.train(longer, model: model, latents: latents, directory: dir, resume: true)[0]
                .metadata.training.iterations, 14)
    }

    func testNaNLossStopsWithTheIterationAndKeepsTheCheckpoint() throws {
        let dir = try temporaryDirectory()
        let bad = TrainingLatents(latents: [Tensor(filled: .nan, shape: [1, 3, 8, 8])], seeds: [0])
        XCTAssertThrowsError(try TinyErasure.train(plan([c1]), model: TinyErasure.model(), latents: [bad], directory: dir)) { e in
            guard case ErasureError.nonFiniteLoss(_, let iteration, let path?) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(iteration, 1)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            XCTAssertTrue("\(e)".contains("iteration 1"), "\(e)")
        }
    }

    func testFullVariantIsMarkedNotRestorable() throws {
        let model = try TinyErasure.model()
        let p = try plan([c1], variant: .full, maxIterations: 10, lr: 1e-3, protected: [])
        XCTAssertEqual(ErasureHyperparameters.defaults(for: .full).learningRate, 1e-5, "the full variant's default lives in the library")
        let s = try TinyErasure.train(p, model: model)[0]
        XCTAssertFalse(s.metadata.restorable)
        XCTAssertNil(s.basis)
        XCTAssertEqual(s.metadata.decoupledFrom, [])
        XCTAssertEqual(Set(s.deltas.keys).count, 4 * model.projections.layers.count, "q, k, v and out of every attn2")
        XCTAssertEqual(s.biasDeltas.count, model.projections.layers.count, "and the output bias")
        let path = try temporaryDirectory().appendingPathComponent("full.sepme.safetensors").path
        try s.write(to: path)
        XCTAssertFalse(try ConceptShift.read(path: path).metadata.restorable)
    }

    func testShiftForAnotherBaseModelIsRefusedUnlessForced() throws {
        let model = try TinyErasure.model()
        let shift = try TinyErasure.train(plan([c1], maxIterations: 10), model: model)[0]
        // Another base model: same architecture, a perturbed text encoder.
        let pipeline = try XCTUnwrap(model.pipeline as? StableDiffusionPipeline)
        pipeline.textEncoder.parameters()[0].pointer[0] += 0.5
        let other = try ShiftSet(pipeline: pipeline)
        XCTAssertThrowsError(try other.install([shift])) { e in
            XCTAssertTrue("\(e)".contains("fingerprint") && "\(e)".contains(other.fingerprint), "\(e)")
        }
        XCTAssertNoThrow(try other.install([shift], force: true))
    }

    /// The whole run through `ErasureRun`: files named after the plan, the lock released, and a
    /// second run into the same folder while the first holds the lock refused.
    func testRunWritesOneFilePerConceptAndLocksItsFolder() throws {
        let dir = try temporaryDirectory()
        let run = ErasureRun(plan: try plan([c1, c2], maxIterations: 3), output: dir, checkpoints: .onInterruption)
        // A lock held by a running process (pid 1 always runs).
        let lockPath = dir.appendingPathComponent(".sepme-lock").path
        try "1\n".write(toFile: lockPath, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try run.run(on: TinyErasure.model())) { e in
            XCTAssertTrue("\(e)".contains(".sepme-lock") && "\(e)".contains("process 1"), "\(e)")
        }
        // A lock left by a process that is gone is taken over.
        try "999999999\n".write(toFile: dir.appendingPathComponent(".sepme-lock").path, atomically: true, encoding: .utf8)
        let written = try run.run(on: TinyErasure.model())
        XCTAssertEqual(
            written.map { URL(fileURLWithPath: $0).lastPathComponent },
            ["a-red-circle.sepme.safetensors", "a-striped-blue-star.sepme.safetensors"])
        XCTAssertEqual(try ConceptShift.read(path: written[1]).metadata.training.iterations, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".sepme-lock").path))
    }

    func testFailedWriteLeavesNoFile() throws {
        let shift = try TinyErasure.train(plan([c1], maxIterations: 10), model: TinyErasure.model())[0]
        XCTAssertThrowsError(try shift.write(to: "/nonexistent-dir/a.sepme.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent-dir/a.sepme.safetensors"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent-dir/a.sepme.safetensors"))
    }
}
