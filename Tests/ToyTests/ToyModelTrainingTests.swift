import Diffusion
import Foundation
import TensorEngine
import XCTest
@testable import Toy

/// The embedded model's training loop on a miniature architecture: resuming from a checkpoint is
/// exact, the exported folder is a strict diffusers folder with the EMA weights, the schedule is
/// the documented one.
final class ToyModelTrainingTests: XCTestCase {
    static func tinySettings() -> ToyModelTraining.Settings {
        var s = ToyModelTraining.Settings()
        s.architecture.textWidth = 32
        s.architecture.textLayers = 1
        s.architecture.textHeads = 2
        s.architecture.textIntermediate = 48
        s.architecture.channels = [8, 16]
        s.architecture.unetHeads = 2
        s.architecture.normGroups = 4
        s.batchSize = 2
        s.steps = 10
        s.warmupSteps = 2
        s.seed = 5
        return s
    }

    var scratch: URL!
    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-toy-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func testResumeFromCheckpointIsExact() throws {
        let settings = Self.tinySettings()
        let straight = try ToyModelTraining(settings: settings)
        let losses = (0..<3).map { _ in straight.trainStep() }
        XCTAssertTrue(losses.allSatisfy(\.isFinite))

        let first = try ToyModelTraining(settings: settings)
        XCTAssertEqual(first.trainStep(), losses[0])
        XCTAssertEqual(first.trainStep(), losses[1])
        let checkpoint = scratch.appendingPathComponent("state.safetensors").path
        try first.saveCheckpoint(path: checkpoint)
        let resumed = try ToyModelTraining(settings: settings)
        try resumed.loadCheckpoint(path: checkpoint)
        XCTAssertEqual(resumed.step, 2)
        XCTAssertEqual(resumed.trainStep(), losses[2])
        for ((key, a), (_, b)) in zip(straight.parameters, resumed.parameters) {
            XCTAssertEqual(a.scalars, b.scalars, key)
        }
        for (i, e) in straight.ema.enumerated() { XCTAssertEqual(e.scalars, resumed.ema[i].scalars) }

        var other = settings
        other.seed = 6
        XCTAssertThrowsError(try ToyModelTraining(settings: other).loadCheckpoint(path: checkpoint)) { error in
            XCTAssertTrue("\(error)".contains(checkpoint), "\(error)")
        }
    }

    func testExportedFolderLoadsStrictlyWithTheEMAWeights() throws {
        let settings = Self.tinySettings()
        let trainer = try ToyModelTraining(settings: settings)
        trainer.trainStep()
        trainer.trainStep()
        let (text, unet) = try trainer.emaModels()
        // The EMA weights differ from the trained ones after an update, and are what gets exported.
        XCTAssertNotEqual(unet.conv_in.weight.scalars, trainer.unet.conv_in.weight.scalars)
        let folder = scratch.appendingPathComponent("model")
        try ToyModelFolder.write(text: text, unet: unet, architecture: settings.architecture, to: folder, metadata: ["test": "1"])
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: folder.path))
        XCTAssertNil(pipeline.vae)
        // The UNet configuration is written with diffusers' block class names and reads back equal.
        let unetConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("unet/config.json"))) as? [String: Any]
        XCTAssertEqual(unetConfig?["down_block_types"] as? [String], ["DownBlock2D", "CrossAttnDownBlock2D"])
        XCTAssertEqual(unetConfig?["up_block_types"] as? [String], ["CrossAttnUpBlock2D", "UpBlock2D"])
        XCTAssertEqual(unetConfig?["mid_block_type"] as? String, "UNetMidBlock2DCrossAttn")
        XCTAssertEqual(pipeline.unet.configuration, settings.architecture.unetConfiguration)
        XCTAssertEqual(pipeline.defaultImageSize.height, ToyConcepts.imageSize)
        let ids = [pipeline.tokenizer.encode("a striped red circle")]
        XCTAssertEqual(ids[0].count, ToyVocabulary.maxLength)
        let context = GradMode.withNoGrad { pipeline.textEncoder(ids).lastHiddenState }
        XCTAssertEqual(context.scalars, GradMode.withNoGrad { text(ids).lastHiddenState }.scalars)
        let x = Tensor.randn([1, 3, 32, 32], generator: &Self.generator)
        let loaded = GradMode.withNoGrad { pipeline.unet(x, timesteps: [500], encoderHiddenStates: context) }
        let inMemory = GradMode.withNoGrad { unet(x, timesteps: [500], encoderHiddenStates: context) }
        XCTAssertEqual(loaded.scalars, inMemory.scalars)
        // Writing again replaces the folder atomically; no temporary folder is left behind.
        try ToyModelFolder.write(text: text, unet: unet, architecture: settings.architecture, to: folder, metadata: [:])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["model"])
    }

    /// `initialModel`: the run starts from an exported folder's weights (trained and EMA alike),
    /// and continues from there; a folder of another architecture is refused by key or shape.
    func testContinuedTrainingStartsFromTheFolder() throws {
        let settings = Self.tinySettings()
        let trainer = try ToyModelTraining(settings: settings)
        trainer.trainStep()
        trainer.trainStep()
        let (text, unet) = try trainer.emaModels()
        let folder = scratch.appendingPathComponent("model")
        try ToyModelFolder.write(text: text, unet: unet, architecture: settings.architecture, to: folder, metadata: [:])

        var continued = settings
        continued.initialModel = folder.path
        continued.seed = 9
        let resumed = try ToyModelTraining(settings: continued)
        var freshSettings = settings
        freshSettings.seed = 9
        let fresh = try ToyModelTraining(settings: freshSettings)
        let exported = Dictionary(uniqueKeysWithValues: unet.namedParameters().map { ("unet." + $0.0, $0.1.scalars) })
        var compared = 0
        for (i, (key, p)) in resumed.parameters.enumerated() where key.hasPrefix("unet.") {
            XCTAssertEqual(p.scalars, exported[key], key)
            XCTAssertEqual(resumed.ema[i].scalars, exported[key], key)
            compared += 1
        }
        XCTAssertEqual(compared, unet.namedParameters().count)
        XCTAssertNotEqual(resumed.unet.conv_in.weight.scalars, fresh.unet.conv_in.weight.scalars)
        let ids = [resumed.tokenizer.encode("a striped red circle")]
        XCTAssertEqual(
            GradMode.withNoGrad { resumed.textEncoder(ids).lastHiddenState.scalars }, GradMode.withNoGrad { text(ids).lastHiddenState.scalars })
        XCTAssertTrue(resumed.trainStep().isFinite)

        var wider = continued
        wider.architecture.channels = [8, 24]
        XCTAssertThrowsError(try ToyModelTraining(settings: wider)) { XCTAssertTrue("\($0)".contains(folder.path), "\($0)") }
    }

    nonisolated(unsafe) static var generator = PyTorchGenerator(seed: 3)

    func testLearningRateSchedule() {
        var s = ToyModelTraining.Settings()
        s.steps = 1000
        s.warmupSteps = 100
        s.learningRate = 1e-3
        XCTAssertEqual(ToyModelTraining.learningRate(step: 0, settings: s), 1e-5, accuracy: 1e-12)
        XCTAssertEqual(ToyModelTraining.learningRate(step: 99, settings: s), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(ToyModelTraining.learningRate(step: 550, settings: s), 0.55e-3, accuracy: 1e-8)
        XCTAssertEqual(ToyModelTraining.learningRate(step: 1000, settings: s), 1e-4, accuracy: 1e-9)
    }

    /// Min-SNR-γ: weight min(SNR, γ) / SNR with SNR = ᾱ / (1 − ᾱ); the noisy half is untouched.
    func testMinSNRLossWeight() {
        XCTAssertEqual(ToyModelTraining.lossWeight(alphaCumprod: 0.9, gamma: 5), 5.0 / 9.0, accuracy: 1e-6)  // SNR 9
        XCTAssertEqual(ToyModelTraining.lossWeight(alphaCumprod: 0.99, gamma: 5), 5.0 / 99.0, accuracy: 1e-6)
        XCTAssertEqual(ToyModelTraining.lossWeight(alphaCumprod: 0.5, gamma: 5), 1)  // SNR 1 < γ
        XCTAssertEqual(ToyModelTraining.lossWeight(alphaCumprod: 1e-4, gamma: 5), 1)
        XCTAssertEqual(ToyModelTraining.lossWeight(alphaCumprod: 0.99, gamma: 0), 1)  // plain loss
        // On the model's own schedule the weight falls monotonically towards t = 0.
        let schedule = NoiseSchedule(try! ToyModelArchitecture().schedulerConfiguration)
        let w = schedule.alphasCumprod.map { ToyModelTraining.lossWeight(alphaCumprod: $0, gamma: 5) }
        XCTAssertLessThan(w[0], 0.01)
        XCTAssertEqual(w[999], 1)
        XCTAssertTrue(zip(w, w.dropFirst()).allSatisfy { $0 <= $1 })
    }
}
