import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// Single-file SD1.x checkpoints (original CompVis key names) seen in diffusers / transformers key space.
/// Fixtures: scripts/make_single_file_fixture.py, Resources/single-file (about 2.2 MB in all): tiny
/// random models' diffusers state dicts, the same weights as one original-layout file (fp32 and fp16,
/// checked in the script against diffusers' own single-file converters), and the full SD1.x key table.
final class SingleFileTests: XCTestCase {
    private func resource(_ name: String, _ ext: String = "safetensors") throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Resources/single-file") else {
            throw SafeTensorsError.fileNotFound(path: "Resources/single-file/\(name).\(ext)")
        }
        return url.path
    }

    private func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try resource(name, "json")))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The tiny models' layouts, as the script recorded them from the diffusers configs.
    private func tinyLayouts() throws -> (UNetLayout, VAELayout) {
        let configs = try json("configs")
        let unet = try XCTUnwrap(configs["unet"] as? [String: Any])
        let vae = try XCTUnwrap(configs["vae"] as? [String: Any])
        let unetLayout = try UNetLayout(
            downBlockTypes: try XCTUnwrap(unet["down_block_types"] as? [String]).map { try XCTUnwrap(UNetDownBlockType(rawValue: $0)) },
            upBlockTypes: try XCTUnwrap(unet["up_block_types"] as? [String]).map { try XCTUnwrap(UNetUpBlockType(rawValue: $0)) },
            layersPerBlock: try XCTUnwrap(unet["layers_per_block"] as? Int))
        let vaeLayout = VAELayout(
            blockCount: try XCTUnwrap(vae["block_out_channels"] as? [Int]).count,
            layersPerBlock: try XCTUnwrap(vae["layers_per_block"] as? Int))
        return (unetLayout, vaeLayout)
    }

    private func open(_ path: String, allowingUnclaimedKeys: Bool = false) throws -> SingleFileCheckpoint {
        let (unet, vae) = try tinyLayouts()
        return try SingleFileCheckpoint(path: path, unet: unet, vae: vae, allowingUnclaimedKeys: allowingUnclaimedKeys)
    }

    private func assertSameTensors(_ source: TensorSource, _ referencePath: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try SafeTensorsFile(path: referencePath)
        let mapped = Set(source.keys)
        let expectedKeys = Set(reference.keys)
        XCTAssertEqual(mapped.subtracting(expectedKeys).sorted(), [], "mapped keys diffusers lacks (\(source.name))", file: file, line: line)
        XCTAssertEqual(expectedKeys.subtracting(mapped).sorted(), [], "diffusers keys not mapped (\(source.name))", file: file, line: line)
        for key in reference.keys.sorted() where source.contains(key) {
            let actual = try source.tensor(key)
            XCTAssertEqual(actual.shape, try reference.info(key).shape, key, file: file, line: line)
            let expected = try reference.floats(key)
            let actualValues = actual.scalars
            let firstDifference = actualValues.indices.first { $0 >= expected.count || actualValues[$0].bitPattern != expected[$0].bitPattern }
            XCTAssertTrue(
                actual.count == expected.count && firstDifference == nil,
                "\(key) differs at element \(firstDifference ?? -1)", file: file, line: line)
        }
    }

    // MARK: Tiny checkpoint against the diffusers state dicts

    func testSingleFileMapsToDiffusersTensorsBitForBit() throws {
        for name in ["tiny-sd1", "tiny-sd1-fp16"] {
            let checkpoint = try open(try resource(name))
            try assertSameTensors(checkpoint.unet, try resource("unet"))
            try assertSameTensors(checkpoint.vae, try resource("vae"))
            try assertSameTensors(checkpoint.textEncoder, try resource("text_encoder"))
            XCTAssertEqual(checkpoint.unclaimedKeys, [])
            XCTAssertTrue(checkpoint.droppedKeys.contains("model_ema.decay"), "\(checkpoint.droppedKeys)")
            XCTAssertTrue(checkpoint.droppedKeys.contains("alphas_cumprod"), "\(checkpoint.droppedKeys)")
            XCTAssertTrue(checkpoint.droppedKeys.contains("cond_stage_model.transformer.text_model.embeddings.position_ids"))
            // Every key of the file went somewhere: a component or the dropped list.
            XCTAssertEqual(
                checkpoint.unet.keys.count + checkpoint.vae.keys.count + checkpoint.textEncoder.keys.count
                    + checkpoint.droppedKeys.count, checkpoint.file.keys.count)
        }
    }

    func testVAEAttentionConvWeightsLoadIntoLinearThroughStrictLoading() throws {
        let checkpoint = try open(try resource("tiny-sd1"))
        let key = "encoder.mid_block.attentions.0.to_q.weight"
        XCTAssertEqual(try checkpoint.file.info("first_stage_model.encoder.mid.attn_1.q.weight").shape, [16, 16, 1, 1])
        XCTAssertEqual(try checkpoint.vae.shape(of: key), [16, 16])
        let attention = VAEAttentionStandIn(channels: 16)
        try attention.load(from: checkpoint.vae.subset(prefix: "decoder.mid_block.attentions.0"))
        let reference = try SafeTensorsFile(path: try resource("vae"))
        XCTAssertEqual(attention.to_out[0].weight.scalars, try reference.floats("decoder.mid_block.attentions.0.to_out.0.weight"))
        XCTAssertEqual(attention.to_v.weight.scalars, try reference.floats("decoder.mid_block.attentions.0.to_v.weight"))
        // A destination whose shape differs is refused, naming the key.
        XCTAssertThrowsError(try checkpoint.vae.load(key, into: Tensor(zeros: [16, 8]))) { e in
            XCTAssertTrue("\(e)".contains(key) && "\(e)".contains("[16, 16]"), "\(e)")
        }
    }

    // MARK: The real SD1.x layout

    func testStableDiffusion1KeyTableMatchesDiffusersConverters() throws {
        let table = try json("sd1-key-map")
        let layout = try XCTUnwrap(table["layout"] as? [String: Any])
        let unetFacts = try XCTUnwrap(layout["unet"] as? [String: Any])
        let vaeFacts = try XCTUnwrap(layout["vae"] as? [String: Any])
        XCTAssertEqual(
            UNetLayout.stableDiffusion1,
            UNetLayout(
                downBlocksWithAttention: try XCTUnwrap(unetFacts["down_attention"] as? [Bool]),
                upBlocksWithAttention: try XCTUnwrap(unetFacts["up_attention"] as? [Bool]),
                layersPerBlock: try XCTUnwrap(unetFacts["layers_per_block"] as? Int)))
        XCTAssertEqual(
            VAELayout.stableDiffusion1,
            VAELayout(
                blockCount: try XCTUnwrap(vaeFacts["blocks"] as? Int),
                layersPerBlock: try XCTUnwrap(vaeFacts["layers_per_block"] as? Int)))
        let map = OriginalCheckpointKeyMap(unet: .stableDiffusion1, vae: .stableDiffusion1)
        let components: [(String, String, OriginalCheckpointKeyMap.Component)] = [
            ("unet", OriginalCheckpointKeyMap.unetPrefix, .unet), ("vae", OriginalCheckpointKeyMap.vaePrefix, .vae),
            ("text_encoder", OriginalCheckpointKeyMap.textEncoderPrefix, .textEncoder)
        ]
        for (name, prefix, component) in components {
            let rows = try XCTUnwrap(table[name] as? [[Any]])
            XCTAssertGreaterThan(rows.count, 100, name)
            for row in rows {
                let original = try XCTUnwrap(row[0] as? String)
                let diffusers = try XCTUnwrap(row[1] as? String)
                let storedAsConv = try XCTUnwrap(row[2] as? Bool)
                let mapped = map.destination(of: prefix + original)
                XCTAssertEqual(
                    mapped, .component(component, MappedTensorKey(diffusers, droppingTrailingUnitDimensionsBeyondRank: storedAsConv ? 2 : nil)),
                    original)
            }
        }
        for key in try XCTUnwrap(layout["dropped"] as? [String]) {
            XCTAssertEqual(map.destination(of: key), .dropped, key)
        }
        // Text encoders saved before transformers added the `text_model.` level.
        XCTAssertEqual(
            map.key(of: "cond_stage_model.transformer.encoder.layers.3.mlp.fc1.weight", in: .textEncoder),
            MappedTensorKey("text_model.encoder.layers.3.mlp.fc1.weight"))
        XCTAssertEqual(map.destination(of: "cond_stage_model.transformer.embeddings.position_ids"), .dropped)
    }

    // MARK: Unknown and missing keys

    /// Copies the tiny single file with keys removed and (float32) keys added.
    private func modifiedCopy(removing removed: Set<String> = [], adding added: [String: [Int]] = [:]) throws -> String {
        try editedCopy(of: try resource("tiny-sd1"), removing: removed, adding: added)
    }

    func testUnknownKeysAreReportedAsUnexpectedByName() throws {
        let path = try modifiedCopy(adding: [
            "model.diffusion_model.input_blocks.1.0.extra_layers.0.weight": [8],  // inside a known block
            "model.diffusion_model.input_blocks.99.0.in_layers.0.weight": [8]  // a block the layout lacks
        ])
        let checkpoint = try open(path)
        let reference = Set(try SafeTensorsFile(path: try resource("unet")).keys)
        XCTAssertEqual(
            Set(checkpoint.unet.keys).subtracting(reference),
            ["down_blocks.0.resnets.0.extra_layers.0.weight", "input_blocks.99.0.in_layers.0.weight"])
        let resnet = ResnetStandIn(channels: 8, timeEmbedding: 32)
        XCTAssertThrowsError(try resnet.load(from: checkpoint.unet.subset(prefix: "down_blocks.0.resnets.0"))) { e in
            guard case .unexpectedKeys(let keys, let source)? = e as? WeightLoadingError else { return XCTFail("\(e)") }
            XCTAssertEqual(keys, ["extra_layers.0.weight"])
            XCTAssertTrue(source.contains(path), source)
        }
        // Keys outside every component are refused when the file is opened, by name.
        let stray = try modifiedCopy(adding: ["conditioner.embedders.1.model.ln_final.weight": [4]])
        XCTAssertThrowsError(try open(stray)) { e in
            XCTAssertEqual(e as? SingleFileCheckpointError, .unclaimedKeys(["conditioner.embedders.1.model.ln_final.weight"], path: stray))
            XCTAssertTrue("\(e)".contains("conditioner.embedders.1.model.ln_final.weight") && "\(e)".contains(stray), "\(e)")
        }
        XCTAssertEqual(try open(stray, allowingUnclaimedKeys: true).unclaimedKeys, ["conditioner.embedders.1.model.ln_final.weight"])
    }

    func testMissingKeysAreReportedByName() throws {
        let path = try modifiedCopy(removing: [
            "first_stage_model.decoder.mid.attn_1.k.weight",
            "model.diffusion_model.input_blocks.1.0.emb_layers.1.bias"
        ])
        let checkpoint = try open(path)
        XCTAssertFalse(checkpoint.vae.contains("decoder.mid_block.attentions.0.to_k.weight"))
        XCTAssertThrowsError(try VAEAttentionStandIn(channels: 16).load(from: checkpoint.vae.subset(prefix: "decoder.mid_block.attentions.0"))) { e in
            XCTAssertEqual(e as? WeightLoadingError, .missingKeys(["to_k.weight"], source: (e as! WeightLoadingError).sourceName))
            XCTAssertTrue("\(e)".contains(path), "\(e)")
        }
        XCTAssertThrowsError(try ResnetStandIn(channels: 8, timeEmbedding: 32).load(from: checkpoint.unet.subset(prefix: "down_blocks.0.resnets.0")))
        { e in
            XCTAssertTrue("\(e)".contains("time_emb_proj.bias") && "\(e)".contains("missing"), "\(e)")
        }
    }

    func testMisshapedConvWeightIsReportedByKey() throws {
        let path = try modifiedCopy(
            removing: ["first_stage_model.encoder.mid.attn_1.v.weight"],
            adding: ["first_stage_model.encoder.mid.attn_1.v.weight": [16, 16, 1, 2]])
        let checkpoint = try open(path)
        XCTAssertEqual(try checkpoint.vae.shape(of: "encoder.mid_block.attentions.0.to_v.weight"), [16, 16, 1, 2])
        XCTAssertThrowsError(try VAEAttentionStandIn(channels: 16).load(from: checkpoint.vae.subset(prefix: "encoder.mid_block.attentions.0"))) { e in
            XCTAssertEqual(
                e as? WeightLoadingError,
                .shapeMismatch(
                    key: "to_v.weight", expected: [16, 16], found: [16, 16, 1, 2],
                    source: (e as! WeightLoadingError).sourceName))
        }
    }

    func testPickleCheckpointsAndUnknownBlockTypesAreRefusedByName() throws {
        XCTAssertThrowsError(try SingleFileCheckpoint(path: "/models/v1-5.ckpt", unet: .stableDiffusion1, vae: .stableDiffusion1)) { e in
            XCTAssertEqual(e as? SingleFileCheckpointError, .unsupportedFormat(path: "/models/v1-5.ckpt"))
        }
        // Block types are enums: an unknown one is refused when the configuration is decoded.
        XCTAssertThrowsError(try JSONDecoder().decode([UNetDownBlockType].self, from: Data(#"["CrossAttnDownBlock2D", "SimpleDown"]"#.utf8))) {
            e in
            XCTAssertTrue("\(e)".contains("SimpleDown"), "\(e)")
        }
        XCTAssertEqual(
            try UNetLayout(
                downBlockTypes: UNet2DConditionConfiguration.sd14.downBlockTypes, upBlockTypes: UNet2DConditionConfiguration.sd14.upBlockTypes,
                layersPerBlock: 2),
            .stableDiffusion1)
    }
}

/// The parameters of diffusers' VAE mid-block `Attention` (group_norm, to_q/k/v, to_out.0).
private final class VAEAttentionStandIn: Module {
    let group_norm: GroupNorm
    let to_q: Linear, to_k: Linear, to_v: Linear
    let to_out: [Linear]
    init(channels: Int) {
        group_norm = GroupNorm(groups: 4, channels: channels)
        to_q = Linear(channels, channels)
        to_k = Linear(channels, channels)
        to_v = Linear(channels, channels)
        to_out = [Linear(channels, channels)]
    }
}

/// The parameters of diffusers' `ResnetBlock2D` with equal input and output channels.
private final class ResnetStandIn: Module {
    let norm1: GroupNorm, conv1: Conv2d, time_emb_proj: Linear, norm2: GroupNorm, conv2: Conv2d
    init(channels: Int, timeEmbedding: Int) {
        norm1 = GroupNorm(groups: 4, channels: channels)
        conv1 = Conv2d(channels, channels, kernelSize: 3, padding: 1)
        time_emb_proj = Linear(timeEmbedding, channels)
        norm2 = GroupNorm(groups: 4, channels: channels)
        conv2 = Conv2d(channels, channels, kernelSize: 3, padding: 1)
    }
}
