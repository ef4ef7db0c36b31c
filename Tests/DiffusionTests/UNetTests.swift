import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// UNet2DConditionModel against diffusers (fixtures: scripts/make_unet_fixtures.py, 5.4 MB in
/// Resources/unet: tiny_fp16 2.3 MB, three_level 1.6 MB, pixel_linear 1.5 MB).
final class UNetTests: XCTestCase {
    static let fixtures = ["tiny_fp16", "three_level", "pixel_linear"]

    static func folder(_ name: String) -> URL {
        Bundle.module.url(forResource: "Resources", withExtension: nil)!.appendingPathComponent("unet/\(name)")
    }

    static func reference(_ name: String) throws -> FixtureFile {
        try FixtureFile(path: folder(name).appendingPathComponent("reference.safetensors").path)
    }

    /// A copy of fixture `name` with `edit` applied to its parsed config.json.
    func editedFixture(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> URL {
        let source = Self.folder(name)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(
            at: source.appendingPathComponent(UNet2DConditionModel.weightsFileName),
            to: dir.appendingPathComponent(UNet2DConditionModel.weightsFileName))
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        return dir
    }

    // Tolerance: max |swift - diffusers(float64)| / max |diffusers| <= 1e-4.
    func testNoisePredictionsMatchDiffusers() throws {
        for name in Self.fixtures {
            let model = try UNet2DConditionModel.load(folder: Self.folder(name))
            let ref = try Self.reference(name)
            let sample = try ref.tensor("sample")
            let context = try ref.tensor("encoder_hidden_states")
            var cases: [(String, [Float])] = [999, 500, 1].map { ("noise_pred_t\($0)", [Float($0)]) }
            cases.append(("noise_pred_mixed", try ref.tensor("timesteps_mixed").scalars))
            for (key, timesteps) in cases {
                let expected = try ref.tensor(key)
                let out = GradMode.withNoGrad { model(sample, timesteps: timesteps, encoderHiddenStates: context) }
                XCTAssertEqual(out.shape, expected.shape, "\(name) \(key)")
                let e = maxErrors(out, expected)
                print("UNet \(name) \(key): relative max error \(e.abs / e.refMax)")
                XCTAssertLessThanOrEqual(e.abs / e.refMax, 1e-4, "\(name) \(key): max abs error \(e.abs) at \(e.index), max |ref| \(e.refMax)")
            }
        }
    }

    /// One sample under k contexts from one text-free start equals the plain forward on the sample
    /// repeated k times (fixtures with and without cross-attention in the first down block).
    func testTextFreeStartSharedAcrossContexts() throws {
        for name in Self.fixtures {
            let model = try UNet2DConditionModel.load(folder: Self.folder(name))
            let ref = try Self.reference(name)
            let sample = try ref.tensor("sample")
            let context = try ref.tensor("encoder_hidden_states")
            let contexts = Tensor.concat([context, context * 0.5, context * -1], axis: 0)
            let (shared, plain) = GradMode.withNoGrad {
                (
                    model(continuing: model.textFreeStart(sample, timesteps: [500]), encoderHiddenStates: contexts),
                    model(Tensor.concat([sample, sample, sample], axis: 0), timesteps: [500], encoderHiddenStates: contexts)
                )
            }
            let e = maxErrors(shared, plain)
            XCTAssertLessThanOrEqual(e.abs / e.refMax, 1e-5, "\(name): max abs error \(e.abs) at \(e.index)")
        }
    }

    func testKeysEqualDiffusersStateDict() throws {
        for name in Self.fixtures {
            let folder = Self.folder(name)
            let model = try UNet2DConditionModel(configuration: .load(from: folder.appendingPathComponent("config.json")))
            let fileKeys = try SafeTensorsFile(path: folder.appendingPathComponent(UNet2DConditionModel.weightsFileName).path).keys
            XCTAssertEqual(Set(model.namedParameters().map(\.0)), Set(fileKeys), name)
            XCTAssertEqual(model.namedParameters().count, fileKeys.count, name)
            // Cross-attention layers: exactly the modules owning an attn2.to_k weight, in diffusers' order.
            let layers = model.crossAttentionLayers().map(\.key)
            let expected = fileKeys.filter { $0.hasSuffix(".attn2.to_k.weight") }.map { String($0.dropLast(".to_k.weight".count)) }
            XCTAssertEqual(Set(layers), Set(expected), name)
            XCTAssertEqual(layers.count, expected.count, name)
            let order = ["down_blocks", "mid_block", "up_blocks"]
            let ranks = layers.map { key in order.firstIndex { key.hasPrefix($0) }! }
            XCTAssertEqual(ranks, ranks.sorted(), name)
        }
    }

    func testPixelFixtureReadsHeadsFromNumAttentionHeads() throws {
        let model = try UNet2DConditionModel.load(folder: Self.folder("pixel_linear"))
        XCTAssertEqual(model.configuration.numAttentionHeads, .many([2, 4]))
        XCTAssertEqual(model.configuration.attentionHeadDim, .one(8))
        let heads = model.crossAttentionLayers().map { $0.attention.heads }
        XCTAssertEqual(Set(heads), [2, 4])
        XCTAssertTrue(model.down_blocks[0] is CrossAttnDownBlock2D)
    }

    /// A small input for gradient checks: the tiny fixture's first batch item cropped to 8×8.
    func smallInput() throws -> (UNet2DConditionModel, Tensor, Tensor) {
        let model = try UNet2DConditionModel.load(folder: Self.folder("tiny_fp16"))
        let ref = try Self.reference("tiny_fp16")
        let sample = try ref.tensor("sample").sliced(axis: 0, 0..<1).sliced(axis: 2, 0..<8).sliced(axis: 3, 0..<8).copy()
        let context = try ref.tensor("encoder_hidden_states").sliced(axis: 0, 1..<2).copy()
        return (model, sample, context)
    }

    func testGradientsToCrossAttentionKeyWeightAndEncoderStates() throws {
        let (model, sample, context) = try smallInput()
        let layer = model.crossAttentionLayers()[0].attention
        let toK = layer.to_k.weight
        let worst = checkGradients(
            "unet attn2.to_k / encoder states", inputs: [toK, context], eps: 1e-2, tolerance: 2e-2,
            maxChecksPerInput: 8
        ) { inputs in
            model(sample, timesteps: [500], encoderHiddenStates: inputs[1])
        }
        print("UNet gradient check: worst relative error \(worst)")
    }

    /// The fused GEGLU equals the engine's chunk / gelu / multiply composition (itself checked
    /// against torch), forward and backward.
    func testFusedGEGLUMatchesComposition() {
        var rng = TestRNG(seed: 11)
        let p = rng.tensor([2, 5, 12], -3, 3)
        let fused = p.gatedGelu()
        let parts = p.chunked(2, axis: -1)
        assertClose(fused, parts[0] * parts[1].gelu(), rtol: 1e-6, atol: 1e-6, "GEGLU forward")
        checkGradients("fused GEGLU", inputs: [p], eps: 1e-2, tolerance: 1e-2) { $0[0].gatedGelu() }
    }

    func testFrozenWeightsGetNoGradient() throws {
        let (model, sample, context) = try smallInput()
        let toV = model.crossAttentionLayers().last!.attention.to_v.weight
        toV.requiresGrad = true
        context.requiresGrad = true
        defer { toV.requiresGrad = false }
        let out = model(sample, timesteps: [999], encoderHiddenStates: context)
        out.square().sum().backward()
        XCTAssertNotNil(toV.grad)
        XCTAssertNotNil(context.grad)
        XCTAssertTrue(context.grad!.isFinite && context.grad!.scalars.contains { $0 != 0 })
        for (key, p) in model.namedParameters() where p !== toV {
            XCTAssertNil(p.grad, "frozen \(key) got a gradient")
        }
    }

    func testConfigContradictingWeightsNamesKey() throws {
        let dir = try editedFixture("tiny_fp16") { $0["cross_attention_dim"] = 40 }
        XCTAssertThrowsError(try UNet2DConditionModel.load(folder: dir)) { error in
            guard case WeightLoadingError.shapeMismatch(let key, let expected, let found, _) = error else {
                return XCTFail("expected a shape mismatch, got \(error)")
            }
            XCTAssertTrue(key.hasSuffix("attn2.to_k.weight"), key)
            XCTAssertEqual(expected[1], 40)
            XCTAssertEqual(found[1], 32)
            XCTAssertTrue("\(error)".contains(key) && "\(error)".contains(UNet2DConditionModel.weightsFileName), "\(error)")
        }
    }

    func testUnsupportedValuesNameFileAndField() throws {
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            ("down_block_types[0]", { $0["down_block_types"] = ["AttnDownBlock2D", "DownBlock2D"] }),
            ("up_block_types[1]", { $0["up_block_types"] = ["UpBlock2D", "SimpleCrossAttnUpBlock2D"] }),
            ("mid_block_type", { $0["mid_block_type"] = NSNull() }),
            ("class_embed_type", { $0["class_embed_type"] = "timestep" }),
            ("addition_embed_type", { $0["addition_embed_type"] = "image" }),
            ("addition_time_embed_dim", { $0["addition_embed_type"] = "text_time" }),
            ("conv_in_kernel", { $0["conv_in_kernel"] = 5 }),
            ("resnet_time_scale_shift", { $0["resnet_time_scale_shift"] = "scale_shift" }),
            ("only_cross_attention", { $0["only_cross_attention"] = true }),
            ("layers_per_block", { $0["layers_per_block"] = [2, 2, 2] }),
            ("attention_head_dim", { $0["attention_head_dim"] = 5 }),
            ("some_future_option", { $0["some_future_option"] = 3 })
        ]
        for (field, edit) in edits {
            let dir = try editedFixture("tiny_fp16", edit)
            XCTAssertThrowsError(try UNet2DConditionModel.load(folder: dir), field) { error in
                guard let e = error as? UNetConfigurationError else { return XCTFail("\(field): \(error)") }
                let text = "\(e)"
                XCTAssertTrue(text.contains("'\(field)'") && text.contains("config.json"), text)
            }
        }
        // Fields that only need their defaults are accepted with them.
        let dir = try editedFixture("tiny_fp16") {
            $0["conv_in_kernel"] = 3
            $0["dropout"] = 0.1
        }
        XCTAssertNoThrow(try UNet2DConditionModel.load(folder: dir))
    }

    func testSD14ConfigurationIsValid() throws {
        let c = UNet2DConditionConfiguration.sd14
        XCTAssertNoThrow(try c.validate(source: "sd14"))
        // Round trip through JSON, as a config.json written by this package would be read back.
        let decoded = try JSONDecoder().decode(UNet2DConditionConfiguration.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(decoded, c)
    }
}
