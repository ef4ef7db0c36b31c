import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// AutoencoderKL against diffusers (fixtures from scripts/make_vae_fixtures.py, 2.3 MB in
/// Resources/vae: two random-weight models, fp16 and fp32, with float64 reference outputs).
/// Tolerance: max |error| ≤ 1e-4 · max |reference| per output tensor.
final class VAETests: XCTestCase {
    private func folder(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources/vae") else {
            throw AutoencoderKLError.missingFile(path: "Resources/vae/\(name)", expected: "a fixture model folder")
        }
        return url
    }

    private func checkParity(_ name: String, scale: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let vae = try AutoencoderKL.load(folder: try folder(name))
        XCTAssertEqual(vae.spatialScaleFactor, scale, file: file, line: line)
        let fx = try FixtureFile(resource: name, subdirectory: "vae", bundle: .module)
        try GradMode.withNoGrad {
            let posterior = try vae.encode(try fx.tensor("image"))
            assertClose(posterior.mean, try fx.tensor("mean"), rtol: 1e-4, "\(name) mean", file: file, line: line)
            assertClose(posterior.logvar, try fx.tensor("logvar"), rtol: 1e-4, "\(name) logvar", file: file, line: line)
            assertClose(posterior.std, try fx.tensor("std"), rtol: 1e-4, "\(name) std", file: file, line: line)
            XCTAssertTrue(posterior.mode() === posterior.mean, file: file, line: line)
            let seed = UInt64(fx.metadata["sample_seed"] ?? "") ?? 0
            var generator = PyTorchGenerator(seed: seed)
            assertClose(
                posterior.sample(generator: &generator), try fx.tensor("sample"), rtol: 1e-4,
                "\(name) sample (seed \(seed))", file: file, line: line)
            let decoded = try vae.decode(try fx.tensor("latent"))
            assertClose(decoded, try fx.tensor("decoded"), rtol: 1e-4, "\(name) decoded", file: file, line: line)
        }
    }

    func testTinyFP16ModelMatchesDiffusers() throws { try checkParity("tiny32", scale: 2) }

    func testThreeBlockModelMatchesDiffusers() throws { try checkParity("three", scale: 4) }

    func testCheckpointKeysFollowDiffusers() throws {
        let vae = try AutoencoderKL(.sd14)
        let keys = Set(vae.namedParameters().map(\.0))
        for key in [
            "encoder.conv_in.weight", "encoder.down_blocks.0.resnets.1.conv2.bias",
            "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down_blocks.2.downsamplers.0.conv.weight",
            "encoder.mid_block.attentions.0.group_norm.weight", "encoder.mid_block.attentions.0.to_out.0.bias",
            "encoder.mid_block.resnets.1.norm2.weight", "encoder.conv_norm_out.bias", "quant_conv.weight",
            "post_quant_conv.bias", "decoder.up_blocks.0.upsamplers.0.conv.weight",
            "decoder.up_blocks.3.resnets.2.conv1.weight", "decoder.up_blocks.2.resnets.0.conv_shortcut.bias",
            "decoder.conv_out.weight"
        ] {
            XCTAssertTrue(keys.contains(key), key)
        }
        XCTAssertFalse(keys.contains("encoder.down_blocks.3.downsamplers.0.conv.weight"))
        XCTAssertFalse(keys.contains("decoder.up_blocks.3.upsamplers.0.conv.weight"))
        // diffusers' AutoencoderKL with the SD 1.4 configuration (counted by the fixture script).
        let fx = try FixtureFile(resource: "tiny32", subdirectory: "vae", bundle: .module)
        XCTAssertEqual(vae.parameterCount, Int(fx.metadata["sd14_parameter_count"] ?? ""))
        XCTAssertEqual(vae.spatialScaleFactor, 8)
    }

    /// d decode(z) / dz by central differences on the three-block model (fp32 weights), 2×3 latent.
    func testDecodeGradientWithRespectToLatent() throws {
        let vae = try AutoencoderKL.load(folder: try folder("three"))
        vae.setRequiresGrad(false)
        var rng = TestRNG(seed: 5)
        let z = rng.tensor([1, 3, 2, 3])
        checkGradients("decode", inputs: [z], eps: 1e-2, tolerance: 2e-2) { inputs in
            try! vae.decode(inputs[0])
        }
    }

    // MARK: Strict loading and configuration errors

    private func scratchCopy(of name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-vae-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: try folder(name), to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    private func editConfig(_ dir: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = dir.appendingPathComponent("config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    private func assertLoadFails(_ dir: URL, mentions words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try AutoencoderKL.load(folder: dir), file: file, line: line) { error in
            let text = "\(error)"
            for w in words { XCTAssertTrue(text.contains(w), "'\(w)' not in: \(text)", file: file, line: line) }
        }
    }

    func testUnsupportedConfigValuesAreNamed() throws {
        let cases: [(String, Any, [String])] = [
            ("act_fn", "gelu", ["act_fn", "gelu"]),
            (
                "down_block_types", ["DownEncoderBlock2D", "AttnDownEncoderBlock2D", "DownEncoderBlock2D"],
                ["down_block_types", "AttnDownEncoderBlock2D"]
            ),
            ("up_block_types", ["UpDecoderBlock2D"], ["up_block_types", "1 entries"]),
            ("norm_num_groups", 6, ["block_out_channels", "norm_num_groups"]),
            ("layers_per_block", "two", ["layers_per_block"])
        ]
        for (field, value, words) in cases {
            let dir = try scratchCopy(of: "three")
            try editConfig(dir) { $0[field] = value }
            assertLoadFails(dir, mentions: ["config.json"] + words)
        }
    }

    func testWeightsMustMatchTheConfiguration() throws {
        // mid-block attention switched off: the checkpoint's attention weights are unexpected.
        var dir = try scratchCopy(of: "three")
        try editConfig(dir) { $0["mid_block_add_attention"] = false }
        assertLoadFails(dir, mentions: ["diffusion_pytorch_model.safetensors", "unexpected", "mid_block.attentions.0"])
        // a different latent width: shapes differ.
        dir = try scratchCopy(of: "three")
        try editConfig(dir) { $0["latent_channels"] = 4 }
        assertLoadFails(dir, mentions: ["diffusion_pytorch_model.safetensors", "shape"])
        // use_quant_conv without its weights in the file.
        dir = try scratchCopy(of: "three")
        let weights = dir.appendingPathComponent("diffusion_pytorch_model.safetensors")
        let source = try SafeTensorsFile(path: weights.path)
        var writer = SafeTensorsWriter()
        for key in source.keys where !key.hasPrefix("quant_conv") {
            try writer.add(key, shape: try source.info(key).shape, floats: try source.floats(key))
        }
        try writer.write(to: weights.path)
        assertLoadFails(dir, mentions: ["missing", "quant_conv.weight", "quant_conv.bias"])
        // no weights file at all.
        try FileManager.default.removeItem(at: weights)
        assertLoadFails(dir, mentions: ["diffusion_pytorch_model.safetensors"])
    }

    func testInvalidConfigurationIsRejectedByTheInitializer() {
        var config = AutoencoderKLConfiguration.sd14
        config.blockOutChannels = []
        XCTAssertThrowsError(try AutoencoderKL(config)) { XCTAssertTrue("\($0)".contains("block_out_channels"), "\($0)") }
    }

    func testBadInputShapesThrow() throws {
        let vae = try AutoencoderKL.load(folder: try folder("three"))
        XCTAssertThrowsError(try vae.encode(Tensor(zeros: [1, 3, 10, 8]))) { XCTAssertTrue("\($0)".contains("multiples of 4"), "\($0)") }
        XCTAssertThrowsError(try vae.decode(Tensor(zeros: [1, 4, 2, 2]))) { XCTAssertTrue("\($0)".contains("[1, 4, 2, 2]"), "\($0)") }
    }
}
