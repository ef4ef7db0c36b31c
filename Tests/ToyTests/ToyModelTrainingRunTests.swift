import Foundation
import SafeTensors
import XCTest
@testable import Toy

/// The train-toy driver: export cadence, the stop request, and that stopping and resuming gives
/// the weights of one uninterrupted run, bit for bit.
final class ToyModelTrainingRunTests: XCTestCase {
    var scratch: URL!
    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-toy-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func makeRun(steps: Int, name: String, resume: Bool = false) throws -> ToyModelTrainingRun {
        var settings = ToyModelTrainingTests.tinySettings()
        settings.steps = steps
        let checkpoint = scratch.appendingPathComponent("\(name).checkpoint.safetensors").path
        return try ToyModelTrainingRun(
            settings: settings, destination: scratch.appendingPathComponent(name), checkpointPath: checkpoint,
            saveEvery: 2, timeLimitMinutes: nil, resumeFrom: resume ? checkpoint : nil)
    }

    func testStopExportsThenResumeMatchesAStraightRun() throws {
        let straight = try makeRun(steps: 5, name: "straight")
        var straightLog: [String] = []
        var progressSteps: [Int] = []
        straight.log = { straightLog.append($0) }
        straight.progress = {
            progressSteps.append($0.step)
            XCTAssertEqual($0.totalSteps, 5)
        }
        XCTAssertEqual(try straight.run(), .completed)
        XCTAssertEqual(progressSteps, [1, 2, 3, 4, 5])
        // Periodic exports at 2 and 4, then the final one.
        XCTAssertEqual(straightLog.map { $0.hasSuffix("[periodic]") }, [true, true, false])
        XCTAssertTrue(straightLog[2].hasPrefix("step 5:") && straightLog[2].hasSuffix("[completed]"), straightLog[2])

        let first = try makeRun(steps: 5, name: "split")
        var log: [String] = []
        first.log = { log.append($0) }
        first.shouldStop = { first.trainer.step == 3 }
        XCTAssertEqual(try first.run(), .interrupted)
        XCTAssertEqual(first.trainer.step, 3)
        XCTAssertTrue(log.last?.hasSuffix("[interrupted]") ?? false, "\(log)")
        let exported = try SafeTensorsFile(path: scratch.appendingPathComponent("split/unet/diffusion_pytorch_model.safetensors").path)
        XCTAssertEqual(exported.metadata["stop_reason"], "interrupted")
        XCTAssertEqual(exported.metadata["steps_done"], "3")

        let resumed = try makeRun(steps: 5, name: "split", resume: true)
        XCTAssertEqual(resumed.trainer.step, 3)
        XCTAssertEqual(try resumed.run(), .completed)
        for ((key, a), (_, b)) in zip(straight.trainer.parameters, resumed.trainer.parameters) {
            XCTAssertEqual(a.scalars, b.scalars, key)
        }
        for (i, e) in straight.trainer.ema.enumerated() { XCTAssertEqual(e.scalars, resumed.trainer.ema[i].scalars) }
    }

    /// A continued run (`initialModel`) that is interrupted resumes from its checkpoint alone: the
    /// starting folder is not read again, so it may be gone, and the weights match a straight run.
    func testContinuedRunResumesWithoutItsStartingFolder() throws {
        let base = try makeRun(steps: 2, name: "base")
        XCTAssertEqual(try base.run(), .completed)
        func run(_ name: String, steps: Int, from folder: URL, resume: Bool = false) throws -> ToyModelTrainingRun {
            var settings = ToyModelTrainingTests.tinySettings()
            settings.steps = steps
            settings.seed = 4
            settings.initialModel = folder.path
            let checkpoint = scratch.appendingPathComponent("\(name).checkpoint.safetensors").path
            return try ToyModelTrainingRun(
                settings: settings, destination: scratch.appendingPathComponent(name), checkpointPath: checkpoint,
                saveEvery: 2, timeLimitMinutes: nil, resumeFrom: resume ? checkpoint : nil)
        }
        let straight = try run("straight", steps: 4, from: scratch.appendingPathComponent("base"))
        XCTAssertEqual(try straight.run(), .completed)

        let start = scratch.appendingPathComponent("start")
        try FileManager.default.copyItem(at: scratch.appendingPathComponent("base"), to: start)
        let first = try run("split", steps: 4, from: start)
        first.shouldStop = { first.trainer.step == 3 }
        XCTAssertEqual(try first.run(), .interrupted)
        try FileManager.default.removeItem(at: start)
        let resumed = try run("split", steps: 4, from: start, resume: true)
        XCTAssertEqual(resumed.trainer.step, 3)
        XCTAssertEqual(try resumed.run(), .completed)
        for ((key, a), (_, b)) in zip(straight.trainer.parameters, resumed.trainer.parameters) {
            XCTAssertEqual(a.scalars, b.scalars, key)
        }
        // Without a checkpoint the folder is needed, and its absence is named.
        XCTAssertThrowsError(try run("fresh", steps: 4, from: start)) { XCTAssertTrue("\($0)".contains(start.path), "\($0)") }
    }

    func testRefusesABadSaveIntervalOrTimeLimit() throws {
        let settings = ToyModelTrainingTests.tinySettings()
        let destination = scratch.appendingPathComponent("m")
        let checkpoint = scratch.appendingPathComponent("c").path
        XCTAssertThrowsError(
            try ToyModelTrainingRun(
                settings: settings, destination: destination, checkpointPath: checkpoint,
                saveEvery: 0, timeLimitMinutes: nil, resumeFrom: nil))
        XCTAssertThrowsError(
            try ToyModelTrainingRun(
                settings: settings, destination: destination, checkpointPath: checkpoint,
                saveEvery: 1, timeLimitMinutes: .nan, resumeFrom: nil))
    }
}
