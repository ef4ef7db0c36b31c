import CLIP
import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// A Stable Diffusion XL base single file in Stability's `sgm` key layout
/// (Resources/pipeline-sdxl/tiny-sdxl-original.safetensors, from scripts/make_sdxl_single_file_fixture.py,
/// which checks it against diffusers' converters and `StableDiffusionXLPipeline.from_single_file`): the
/// UNet's `label_emb` becomes `add_embedding`, the OpenCLIP encoder's fused `in_proj` is split and its
/// `text_projection` transposed, and every tensor equals the one the diffusers folder holds; the
/// embeddings and the UNet's ε equal the folder pipeline's exactly and diffusers' within 1e-4.
final class SDXLSingleFileTests: XCTestCase {
    private static let prompt = "a striped red circle"

    private func resources() throws -> (file: String, folder: URL, outputs: String) {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Resources/pipeline-sdxl", withExtension: nil))
        return (
            dir.appendingPathComponent("tiny-sdxl-original.safetensors").path, dir.appendingPathComponent("tiny-sdxl"),
            dir.appendingPathComponent("tiny-sdxl-original-outputs.safetensors").path
        )
    }

    /// Every parameter of `a` equals `b`'s bit for bit; returns how many were compared.
    @discardableResult
    private func assertSameParameters(_ a: Module, _ b: Module, _ what: String) -> Int {
        let left = Dictionary(uniqueKeysWithValues: a.namedParameters())
        let right = Dictionary(uniqueKeysWithValues: b.namedParameters())
        XCTAssertEqual(Set(left.keys), Set(right.keys), what)
        XCTAssertFalse(left.isEmpty, what)
        var compared = 0
        for (key, x) in left {
            guard let y = right[key] else { continue }
            XCTAssertEqual(x.shape, y.shape, "\(what) \(key)")
            guard x.shape == y.shape else { continue }
            XCTAssertEqual(maxErrors(x, y).abs, 0, "\(what) \(key) differs between the single file and the folder")
            compared += 1
        }
        return compared
    }

    func testSingleFileGivesTheFolderWeights() throws {
        let (file, folder, _) = try resources()
        let single = try StableDiffusionXLPipeline(singleFile: file, configurationFolder: folder)
        let reference = try StableDiffusionXLPipeline(folder: ModelFolder(path: folder.path))
        let counts = [
            assertSameParameters(single.unet, reference.unet, "unet"), assertSameParameters(single.vae, reference.vae, "vae"),
            assertSameParameters(single.textEncoder, reference.textEncoder, "text encoder"),
            assertSameParameters(single.textEncoder2, reference.textEncoder2, "text encoder 2")
        ]
        // Every tensor of the file but its known extras is one parameter (a fused in_proj three).
        let checkpoint = try SafeTensorsFile(path: file)
        let fused = checkpoint.keys.filter { $0.hasSuffix(".attn.in_proj_weight") || $0.hasSuffix(".attn.in_proj_bias") }.count
        let extras = [
            "denoiser.sigmas", "conditioner.embedders.1.model.logit_scale", "conditioner.embedders.0.transformer.text_model.embeddings.position_ids"
        ]
        XCTAssertEqual(counts.reduce(0, +), checkpoint.keys.count - extras.count + 2 * fused)
        XCTAssertEqual(single.forceZerosForEmptyPrompt, reference.forceZerosForEmptyPrompt)
        XCTAssertEqual(single.source, file)
    }

    /// The same embeddings and UNet output as the folder (exactly) and as diffusers' pipeline loaded
    /// from the single file (within 1e-4 of the largest value).
    func testSingleFileOutputsMatchTheFolderAndDiffusers() throws {
        let (file, folder, outputsPath) = try resources()
        let expected = try FixtureFile(path: outputsPath)
        let single = try StableDiffusionXLPipeline(singleFile: file, configurationFolder: folder)
        let reference = try StableDiffusionXLPipeline(folder: ModelFolder(path: folder.path))
        func outputs(_ pipeline: StableDiffusionXLPipeline) throws -> (SDXLPromptEmbeddings, Tensor) {
            let embeddings = pipeline.encode(prompts: [Self.prompt])
            let added = try XCTUnwrap(UNetAddedConditions(textEmbeds: embeddings.pooled, sharedTimeIds: [64, 64, 0, 0, 64, 64]))
            let eps = GradMode.withNoGrad {
                pipeline.unet(try! expected.tensor("latents"), timesteps: [500], encoderHiddenStates: embeddings.context, addedConditions: added)
            }
            return (embeddings, eps)
        }
        let (embeddings, eps) = try outputs(single)
        let (folderEmbeddings, folderEps) = try outputs(reference)
        XCTAssertEqual(maxErrors(embeddings.context, folderEmbeddings.context).abs, 0)
        XCTAssertEqual(maxErrors(embeddings.pooled, folderEmbeddings.pooled).abs, 0)
        XCTAssertEqual(maxErrors(eps, folderEps).abs, 0)
        for (name, actual, key) in [
            ("prompt embeddings", embeddings.context, "prompt_embeds"), ("pooled", embeddings.pooled, "pooled"), ("eps", eps, "eps")
        ] {
            let reference = try expected.tensor(key)
            assertClose(actual, reference, rtol: 1e-4, name)
            let (worst, _, scale) = maxErrors(actual, reference)
            print("SDXL single file \(name): relative max error against diffusers \(worst / scale)")
        }
    }

    /// A folder with only the configuration files (no weights) describes the file as well.
    func testConfigurationOnlyFolder() throws {
        let (file, folder, _) = try resources()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sdxl-config-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let files = [
            "model_index.json", "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
            "text_encoder_2/config.json", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "tokenizer_2/tokenizer.json",
            "tokenizer_2/tokenizer_config.json"
        ]
        for name in files {
            let target = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: folder.appendingPathComponent(name), to: target)
        }
        let single = try StableDiffusionXLPipeline(singleFile: file, configurationFolder: dir)
        let reference = try StableDiffusionXLPipeline(folder: ModelFolder(path: folder.path))
        assertSameParameters(single.textEncoder2, reference.textEncoder2, "text encoder 2")
        // Without the second tokenizer the folder is not an SDXL configuration: named.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer_2"))
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: file, configurationFolder: dir)) { error in
            XCTAssertTrue("\(error)".contains(dir.appendingPathComponent("tokenizer_2").path), "\(error)")
        }
    }

    func testKeyMap() throws {
        let map = SDXLCheckpointKeyMap(
            unet: UNetLayout(
                downBlocksWithAttention: [false, true], upBlocksWithAttention: [true, false], layersPerBlock: 1, hasTextTimeEmbedding: true),
            vae: VAELayout(blockCount: 2, layersPerBlock: 1))
        XCTAssertEqual(
            map.destination(of: "model.diffusion_model.label_emb.0.2.bias"),
            .component(.unet, [MappedTensorKey("add_embedding.linear_2.bias")]))
        XCTAssertEqual(
            map.destination(of: "model.diffusion_model.input_blocks.3.1.transformer_blocks.1.attn2.to_k.weight"),
            .component(.unet, [MappedTensorKey("down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight")]))
        XCTAssertEqual(
            map.destination(of: "conditioner.embedders.0.transformer.text_model.encoder.layers.2.mlp.fc1.weight"),
            .component(.textEncoder, [MappedTensorKey("text_model.encoder.layers.2.mlp.fc1.weight")]))
        let openCLIP = "conditioner.embedders.1.model."
        XCTAssertEqual(
            map.destination(of: openCLIP + "text_projection"),
            .component(.textEncoder2, [MappedTensorKey("text_projection.weight", transposed: true)]))
        XCTAssertEqual(
            map.destination(of: openCLIP + "transformer.resblocks.2.attn.in_proj_bias"),
            .component(
                .textEncoder2,
                ["q_proj", "k_proj", "v_proj"].enumerated().map { i, name in
                    MappedTensorKey("text_model.encoder.layers.2.self_attn.\(name).bias", rowBlock: MappedTensorKey.RowBlock(index: i, count: 3))
                }))
        for dropped in [
            "denoiser.sigmas", openCLIP + "logit_scale", "conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
            "model_ema.decay"
        ] {
            XCTAssertEqual(map.destination(of: dropped), .dropped, dropped)
        }
        // SD 1.x / 2.x text encoders and further embedders are not SDXL base's.
        for stray in ["cond_stage_model.transformer.text_model.final_layer_norm.weight", "conditioner.embedders.2.model.x"] {
            XCTAssertEqual(map.destination(of: stray), .unclaimed, stray)
        }
        // Without the text_time embedding the label_emb keys keep their names (reported as unexpected).
        let plain = SDXLCheckpointKeyMap(
            unet: UNetLayout(downBlocksWithAttention: [true], upBlocksWithAttention: [true], layersPerBlock: 1),
            vae: VAELayout(blockCount: 1, layersPerBlock: 1))
        XCTAssertEqual(
            plain.destination(of: "model.diffusion_model.label_emb.0.0.weight"), .component(.unet, [MappedTensorKey("label_emb.0.0.weight")]))
        XCTAssertEqual(MappedTensorKey("x", transposed: true).presentedShape(stored: [32, 16]), [16, 32])
        XCTAssertEqual(MappedTensorKey("x", transposed: true).presentedShape(stored: [32]), [32])
    }

    /// The OpenCLIP projection is loaded transposed: the model's `text_projection.weight` [P, D] is the
    /// file's [D, P] matrix read by columns.
    func testProjectionIsTransposedOnLoad() throws {
        let (file, folder, _) = try resources()
        let single = try StableDiffusionXLPipeline(singleFile: file, configurationFolder: folder)
        let stored = try FixtureFile(path: file).tensor("conditioner.embedders.1.model.text_projection")
        let weight = single.textEncoder2.text_projection.weight
        XCTAssertEqual(weight.shape, [stored.shape[1], stored.shape[0]])
        var worst: Float = 0
        for p in 0..<weight.shape[0] {
            for d in 0..<weight.shape[1] {
                worst = max(worst, abs(weight.pointer[p * weight.shape[1] + d] - stored.pointer[d * stored.shape[1] + p]))
            }
        }
        XCTAssertEqual(worst, 0)
        XCTAssertGreaterThan(maxErrors(weight, stored).abs, 0, "a symmetric projection would not show the transpose")
    }
}
