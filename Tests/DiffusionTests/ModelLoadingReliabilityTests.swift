import CLIP
import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import XCTest

/// Regression tests for issue 12 on the model-loading side: each fault in a model folder or a
/// generation request ends in a typed error naming the file, key or value, at load time.
final class ModelLoadingReliabilityTests: XCTestCase {
    static let tinySD = Bundle.module.url(forResource: "Resources/pipeline/tiny-sd", withExtension: nil)!

    /// A private copy of tiny-sd, removed after the test.
    private func copyOfTinySD() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-reliab-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.tinySD, to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Sets `key` of the JSON object in `file` (nil removes it).
    private func edit(_ folder: URL, _ file: String, _ key: String, _ value: Any?) throws {
        let url = folder.appendingPathComponent(file)
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        object[key] = value
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    private func loadError(_ folder: URL, file: StaticString = #filePath, line: UInt = #line) -> Error? {
        do {
            _ = try StableDiffusionPipeline(folder: ModelFolder(path: folder.path))
            XCTFail("loaded", file: file, line: line)
            return nil
        } catch { return error }
    }

    // MARK: consistency

    func testTokenizerIdsBeyondTheTextEncoderVocabularyAreRefused() throws {
        let folder = try copyOfTinySD()
        try edit(folder, "text_encoder/config.json", "vocab_size", 2000)
        let e = try XCTUnwrap(loadError(folder))
        XCTAssertEqual(
            e as? PipelineConsistencyError,
            .tokenizerVocabularyTooLarge(
                tokenizer: folder.appendingPathComponent("tokenizer").path, largestTokenId: 2513,
                textEncoder: folder.appendingPathComponent("text_encoder/config.json").path, vocabularySize: 2000))
    }

    func testModelMaxLengthBeyondPositionsIsRefusedAlsoWhenAssumed() throws {
        let folder = try copyOfTinySD()
        try edit(folder, "text_encoder/config.json", "max_position_embeddings", 40)
        guard case .sequenceLongerThanPositions(_, 77, false, _, 40)? = loadError(folder) as? PipelineConsistencyError else {
            return XCTFail("expected sequenceLongerThanPositions")
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer/tokenizer_config.json"))
        let e = try XCTUnwrap(loadError(folder))
        guard case .sequenceLongerThanPositions(_, 77, true, _, 40)? = e as? PipelineConsistencyError else {
            return XCTFail("expected the assumed 77: \(e)")
        }
        XCTAssertTrue("\(e)".contains("no tokenizer_config.json"), "\(e)")
    }

    func testTextWidthAndLatentChannelsMustMatch() throws {
        let folder = try copyOfTinySD()
        try edit(folder, "unet/config.json", "cross_attention_dim", 64)
        guard case .textWidthMismatch(_, 32, _, 64)? = loadError(folder) as? PipelineConsistencyError else {
            return XCTFail("expected textWidthMismatch")
        }
        try edit(folder, "unet/config.json", "cross_attention_dim", 32)
        try edit(folder, "vae/config.json", "latent_channels", 3)
        guard case .latentChannelMismatch(_, "in_channels", 4, _, 3)? = loadError(folder) as? PipelineConsistencyError else {
            return XCTFail("expected latentChannelMismatch")
        }
    }

    /// An SDXL UNet ("text_time") in an SD 1.x / 2.x folder is refused at load, before any weight:
    /// this pipeline has no pooled text embedding to give it.
    func testTextTimeUNetWithoutASecondEncoderIsRefused() throws {
        let folder = try copyOfTinySD()
        try edit(folder, "unet/config.json", "addition_embed_type", "text_time")
        try edit(folder, "unet/config.json", "addition_time_embed_dim", 8)
        try edit(folder, "unet/config.json", "projection_class_embeddings_input_dim", 80)
        let e = try XCTUnwrap(loadError(folder))
        XCTAssertEqual(
            e as? PipelineConsistencyError, .textTimeWithoutPooledText(unet: folder.appendingPathComponent("unet/config.json").path))
        XCTAssertTrue("\(e)".contains("text_encoder_2"), "\(e)")
    }

    // MARK: sizes and types

    func testAbsurdSizesAreRefusedWithKeyValueAndRange() throws {
        let cases: [(String, String, Any, String)] = [
            ("text_encoder/config.json", "num_hidden_layers", 1_000_000, "num_hidden_layers': 1000000 is outside the allowed range 1...256"),
            ("text_encoder/config.json", "vocab_size", 1 << 62, "vocab_size': 4611686018427387904 is outside the allowed range"),
            ("text_encoder/config.json", "num_hidden_layers", 2.5, "num_hidden_layers': expected an integer, got 2.5"),
            ("unet/config.json", "sample_size", 1 << 62, "sample_size: 4611686018427387904 is outside the allowed range 1...8192"),
            ("unet/config.json", "block_out_channels", [16, 1 << 40], "block_out_channels[1]: 1099511627776 is outside"),
            ("unet/config.json", "layers_per_block", 1_000_000, "layers_per_block: 1000000 is outside the allowed range 1...64"),
            ("vae/config.json", "block_out_channels", [16, 1_000_000], "block_out_channels[1]"),
            ("scheduler/scheduler_config.json", "num_train_timesteps", 1 << 62, "num_train_timesteps: 4611686018427387904 is outside"),
            ("tokenizer/tokenizer_config.json", "model_max_length", 100_000, "model_max_length 100000 is outside the allowed range")
        ]
        for (file, key, value, expected) in cases {
            let folder = try copyOfTinySD()
            try edit(folder, file, key, value)
            let e = try XCTUnwrap(loadError(folder), key)
            XCTAssertTrue("\(e)".contains(expected), "\(key): \(e)")
            XCTAssertTrue("\(e)".contains(folder.appendingPathComponent(file).path), "\(key): \(e)")
        }
    }

    /// A configuration that fits its checks but needs far more parameters than the weights file holds
    /// is refused before the model is allocated.
    func testConfigurationLargerThanItsWeightsIsRefusedBeforeAllocation() throws {
        let folder = try copyOfTinySD()
        try edit(folder, "text_encoder/config.json", "num_hidden_layers", 256)
        try edit(folder, "text_encoder/config.json", "hidden_size", 16384)
        try edit(folder, "unet/config.json", "cross_attention_dim", 16384)
        let e = try XCTUnwrap(loadError(folder))
        XCTAssertTrue("\(e)".contains("needs at least") && "\(e)".contains("model.safetensors"), "\(e)")
    }

    // MARK: scheduler

    func testBadBetaSchedulesAreRefusedWithTheKey() throws {
        let cases: [([String: Any], String)] = [
            (["beta_start": -0.1], "beta_start -0.1"),
            (["beta_end": 0.00001, "beta_start": 0.001], "beta_end 1e-05 is smaller than beta_start"),
            (["trained_betas": [Double](repeating: 0.01, count: 999) + [1.0]], "trained_betas[999] = 1.0"),
            (["beta_end": 0.9], "cumulative product of alphas"),
            (["prediction_type": "noise"], "prediction_type: 'noise' is not one of epsilon, v_prediction, sample"),
            (["timestep_spacing": "even"], "timestep_spacing"),
            (["steps_offset": 1000], "steps_offset 1000 must be between 0 and 999")
        ]
        for (fields, expected) in cases {
            let folder = try copyOfTinySD()
            for (k, v) in fields { try edit(folder, "scheduler/scheduler_config.json", k, v) }
            let e = try XCTUnwrap(loadError(folder), expected)
            XCTAssertTrue(e is SchedulerError, "\(e)")
            XCTAssertTrue("\(e)".contains(expected), "\(e)")
        }
    }

    func testStepCountErrorNamesTheValueAndRangeNotAFlag() throws {
        var c = SchedulerConfiguration()
        let ddim = DDIMScheduler(c)
        XCTAssertThrowsError(try ddim.setTimesteps(0)) { e in
            XCTAssertEqual("\(e)", "steps 0 must be between 1 and 1000 (the scheduler's training timesteps)")
        }
        // leading spacing with steps_offset 1: 1000 steps would reach timestep 1000.
        c.stepsOffset = 1
        XCTAssertThrowsError(try DDIMScheduler(c).setTimesteps(1000)) { e in
            XCTAssertEqual(e as? SchedulerError, .invalidStepCount(requested: 1000, maximum: 999, trainTimesteps: 1000))
            XCTAssertFalse("\(e)".contains("--"), "\(e)")
        }
        let last = DDIMScheduler(c)
        XCTAssertNoThrow(try last.setTimesteps(999))
        XCTAssertEqual(last.timesteps.first, 999)
    }

    // MARK: non-finite values

    func testNaNInAWeightIsNamedAtLoad() throws {
        let folder = try copyOfTinySD()
        let weights = folder.appendingPathComponent("unet/diffusion_pytorch_model.safetensors")
        let file = try SafeTensorsFile(path: weights.path)
        let key = try XCTUnwrap(file.keys.first { (try? file.info($0).elementCount) ?? 0 > 2 })
        let info = try file.info(key)
        var bytes = try Data(contentsOf: weights)
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let size = info.dtype.byteSize
        let at = 8 + headerLength + info.byteRange.lowerBound + size
        // NaN of the stored dtype at element 1.
        let pattern: [UInt8] = size == 4 ? [0, 0, 0xC0, 0x7F] : info.dtype == .bf16 ? [0xC0, 0x7F] : [0x00, 0x7E]
        bytes.replaceSubrange(at..<(at + size), with: pattern)
        try bytes.write(to: weights)
        let e = try XCTUnwrap(loadError(folder))
        guard case .nonFiniteValue(key, 1, _, weights.path)? = e as? WeightLoadingError else { return XCTFail("\(e)") }
    }

    func testDivergingLatentsThrowNamingTheStep() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: Self.tinySD.path))
        let (_, weight) = try XCTUnwrap(pipeline.unet.namedParameters().first { $0.0.hasSuffix("conv_out.bias") })
        weight.fill(.infinity)
        XCTAssertThrowsError(try pipeline.generate(GenerationOptions(prompts: ["x"], steps: 3))) { e in
            guard case .nonFiniteLatents(1, 3, _)? = e as? PipelineError else { return XCTFail("\(e)") }
        }
    }

    func testAbsurdGenerationOptionsAreRefusedByValue() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: Self.tinySD.path))
        func message(_ options: GenerationOptions) -> String {
            do {
                try pipeline.validate(options)
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(
            message(GenerationOptions(prompts: ["x"], guidance: .nan)), "guidance nan is not allowed (expected a finite number in -1000...1000)")
        XCTAssertTrue(message(GenerationOptions(prompts: ["x"], guidance: .infinity)).hasPrefix("guidance inf"))
        XCTAssertEqual(message(GenerationOptions(prompts: ["x"], eta: .nan)), "eta nan is not allowed (expected a number in 0...1)")
        XCTAssertTrue(message(GenerationOptions(prompts: ["x"], eta: -1)).hasPrefix("eta -1.0"))
        XCTAssertTrue(message(GenerationOptions(prompts: ["x"], eta: 1e30)).hasPrefix("eta 1e+30"))
        XCTAssertTrue(message(GenerationOptions(prompts: ["x"], imagesPerPrompt: 0)).hasPrefix("imagesPerPrompt 0"))
        let zero = message(GenerationOptions(prompts: ["x"], width: 0, height: 32))
        XCTAssertTrue(zero.contains("0x32") && !zero.contains("try 0x"), zero)
        XCTAssertTrue(message(GenerationOptions(prompts: ["x"], width: 1 << 31, height: 32)).contains("must be between 2 and 16384"))
        XCTAssertEqual(
            message(GenerationOptions(prompts: ["x"], width: 17, height: 16)),
            "image size 17x16 is not divisible by the model's scale factor 2 (try 16x16)")
        let huge = message(GenerationOptions(prompts: ["x"], width: 16384, height: 16384, imagesPerPrompt: 64))
        XCTAssertTrue(huge.contains("GiB of memory") && huge.contains("this machine has"), huge)
        XCTAssertEqual(message(GenerationOptions(prompts: ["x"], width: 16, height: 16)), "accepted")
    }

    // MARK: one folder writer

    func testFolderWriterRefusesTheSourceFolderAndCleansUpOnStop() throws {
        let folder = try copyOfTinySD()
        let model = try ModelFolder(path: folder.path)
        let pipeline = try StableDiffusionPipeline(folder: model)
        for destination in [folder, folder.appendingPathComponent("out"), folder.appendingPathComponent("unet/x")] {
            XCTAssertThrowsError(try ModelFolderWriter.copy(model, to: destination, replacingUNetWeightsFrom: pipeline.unet)) { e in
                XCTAssertEqual(
                    e as? DiffusersFolderWriterError,
                    .destinationInsideSource(destination: destination.path, source: model.url.path))
            }
        }
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: parent) }
        var polls = 0
        XCTAssertThrowsError(
            try ModelFolderWriter.copy(
                model, to: parent.appendingPathComponent("copy"), replacingUNetWeightsFrom: pipeline.unet,
                shouldStop: {
                    polls += 1
                    return polls > 3
                })
        ) { e in
            XCTAssertEqual(e as? DiffusersFolderWriterError, .interrupted(destination: parent.appendingPathComponent("copy").path))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), [], "temporary folder left behind")
        // A complete copy loads and carries the same UNet weights.
        try ModelFolderWriter.copy(model, to: parent.appendingPathComponent("copy"), replacingUNetWeightsFrom: pipeline.unet)
        let copy = try StableDiffusionPipeline(folder: ModelFolder(path: parent.appendingPathComponent("copy").path))
        for ((k, a), (_, b)) in zip(pipeline.unet.namedParameters(), copy.unet.namedParameters()) {
            XCTAssertEqual(a.scalars, b.scalars, k)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), ["copy"])
        XCTAssertThrowsError(try ModelFolderWriter.copy(model, to: parent.appendingPathComponent("copy"), replacingUNetWeightsFrom: pipeline.unet)) {
            e in
            XCTAssertEqual(e as? DiffusersFolderWriterError, .destinationExists(path: parent.appendingPathComponent("copy").path))
        }
    }
}
