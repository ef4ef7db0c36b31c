import CLIP
import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import XCTest

/// A single-file checkpoint loads into the same modules, with identical weights, as the diffusers
/// state dicts it was converted from (scripts/make_single_file_fixture.py).
final class SingleFilePipelineTests: XCTestCase {
    static let dir = Bundle.module.url(forResource: "Resources/single-file", withExtension: nil)!

    /// A diffusers-layout configuration folder built from configs.json. The tokenizer must fit the
    /// 1000-token text encoder (the pipeline checks it at load): the toy model's 702-token one.
    private func configurationFolder() throws -> URL {
        let configs = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.dir.appendingPathComponent("configs.json"))) as! [String: Any]
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-sf-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        for (name, key) in [("unet", "unet"), ("vae", "vae"), ("text_encoder", "text_encoder")] {
            let d = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: configs[key]!).write(to: d.appendingPathComponent("config.json"))
        }
        let sched = root.appendingPathComponent("scheduler")
        try FileManager.default.createDirectory(at: sched, withIntermediateDirectories: true)
        try JSONEncoder().encode(SchedulerConfiguration.stableDiffusion1).write(to: sched.appendingPathComponent("scheduler_config.json"))
        let toyTokenizer = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/Toy/Resources/toy-model/tokenizer").standardizedFileURL
        try FileManager.default.copyItem(at: toyTokenizer, to: root.appendingPathComponent("tokenizer"))
        return root
    }

    private func assertSameWeights(_ module: Module, _ file: String, prefix: String = "") throws {
        let reference = try SafeTensorsFile(path: Self.dir.appendingPathComponent(file).path)
        let params = module.namedParameters()
        XCTAssertEqual(params.count, reference.keys.filter { !$0.hasSuffix("position_ids") }.count, file)
        for (key, p) in params {
            XCTAssertEqual(p.scalars, try reference.floats(prefix + key), "\(file): \(key)")
        }
    }

    /// The modules a single file loads into, built as `StableDiffusionPipeline(singleFile:)` builds
    /// them, without the pipeline's consistency check (see below).
    private func modules(_ name: String) throws -> (unet: UNet2DConditionModel, vae: AutoencoderKL, text: CLIPTextModel) {
        let configs = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: Self.dir.appendingPathComponent("configs.json"))) as? [String: Any])
        func config<T: Decodable>(_ key: String, _: T.Type) throws -> T {
            try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: try XCTUnwrap(configs[key])))
        }
        let unetConfig = try config("unet", UNet2DConditionConfiguration.self)
        let vaeConfig = try config("vae", AutoencoderKLConfiguration.self)
        let textConfig = try config("text_encoder", CLIPTextConfiguration.self)
        let layers = try XCTUnwrap(unetConfig.layersPerBlock.values(count: unetConfig.downBlockTypes.count))
        let checkpoint = try SingleFileCheckpoint(
            path: Self.dir.appendingPathComponent(name).path,
            unet: UNetLayout(downBlockTypes: unetConfig.downBlockTypes, upBlockTypes: unetConfig.upBlockTypes, layersPerBlock: layers[0]),
            vae: VAELayout(blockCount: vaeConfig.blockOutChannels.count, layersPerBlock: vaeConfig.layersPerBlock))
        let unet = try UNet2DConditionModel(configuration: unetConfig)
        try unet.load(from: checkpoint.unet)
        let vae = try AutoencoderKL(vaeConfig)
        try vae.load(from: checkpoint.vae)
        let text = CLIPTextModel(configuration: textConfig)
        try text.load(from: checkpoint.textEncoder)
        return (unet, vae, text)
    }

    /// The single file's key mapping gives exactly the diffusers state dicts, fp32 and fp16.
    func testSingleFileAndDiffusersWeightsAreIdentical() throws {
        let fp32 = try modules("tiny-sd1.safetensors")
        try assertSameWeights(fp32.unet, "unet.safetensors")
        try assertSameWeights(fp32.vae, "vae.safetensors")
        try assertSameWeights(fp32.text, "text_encoder.safetensors")
        // fp16 storage: equal to the fp32 weights rounded to half precision.
        let fp16 = try modules("tiny-sd1-fp16.safetensors")
        let reference = try SafeTensorsFile(path: Self.dir.appendingPathComponent("unet.safetensors").path)
        for (key, p) in fp16.unet.namedParameters() {
            XCTAssertEqual(p.scalars, try reference.floats(key).map { Float(Float16($0)) }, key)
        }
    }

    /// The fixture pairs a 32-wide text encoder with a UNet attending to 8-wide context: a model that
    /// could not generate, which the pipeline refuses at load, naming both widths.
    func testInconsistentSingleFileModelIsRefused() throws {
        XCTAssertThrowsError(
            try StableDiffusionPipeline(
                singleFile: Self.dir.appendingPathComponent("tiny-sd1.safetensors").path, configurationFolder: configurationFolder())
        ) { e in
            guard case PipelineConsistencyError.textWidthMismatch(_, 32, _, 8) = e else { return XCTFail("\(e)") }
        }
    }

    func testCkptAndMissingFilesAreRefusedByName() {
        XCTAssertThrowsError(try StableDiffusionPipeline(singleFile: "/tmp/model.ckpt", configurationFolder: nil)) { e in
            XCTAssertTrue("\(e)".contains("model.ckpt"), "\(e)")
        }
        XCTAssertThrowsError(try StableDiffusionPipeline(path: "/nonexistent/model.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/model.safetensors"), "\(e)")
        }
    }
}
