import CLIP
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// A Stable Diffusion 2.x single file in Stability's original key layout
/// (Resources/pipeline-sd2/tiny-sd2-original.safetensors, from scripts/make_sd2_single_file_fixture.py,
/// which checks it against diffusers' converters): the OpenCLIP text encoder's fused `in_proj`
/// attention weights are split on load, its extra final resblock, `text_projection` and `logit_scale`
/// are dropped, and every tensor equals the one the diffusers folder holds.
final class SD2SingleFileTests: XCTestCase {
    private func resources() throws -> (file: String, folder: URL) {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Resources/pipeline-sd2", withExtension: nil))
        return (dir.appendingPathComponent("tiny-sd2-original.safetensors").path, dir.appendingPathComponent("tiny-sd2"))
    }

    private func assertSameParameters(_ a: Module, _ b: Module, _ what: String) {
        let left = Dictionary(uniqueKeysWithValues: a.namedParameters())
        let right = Dictionary(uniqueKeysWithValues: b.namedParameters())
        XCTAssertEqual(Set(left.keys), Set(right.keys), what)
        XCTAssertFalse(left.isEmpty, what)
        for (key, x) in left {
            guard let y = right[key] else { continue }
            XCTAssertEqual(x.shape, y.shape, "\(what) \(key)")
            guard x.shape == y.shape else { continue }
            XCTAssertEqual(maxErrors(x, y).abs, 0, "\(what) \(key) differs between the single file and the folder")
        }
    }

    func testSingleFileGivesTheFolderWeights() throws {
        let (file, folder) = try resources()
        let single = try StableDiffusionPipeline(singleFile: file, configurationFolder: folder)
        let reference = try StableDiffusionPipeline(folder: ModelFolder(path: folder.path))
        assertSameParameters(single.textEncoder, reference.textEncoder, "text encoder")
        assertSameParameters(single.unet, reference.unet, "unet")
        if let a = single.vae, let b = reference.vae { assertSameParameters(a, b, "vae") } else { XCTFail("no VAE") }
    }

    func testFusedProjectionsSplitIntoQueryKeyValueRows() throws {
        let map = OriginalCheckpointKeyMap(
            unet: UNetLayout(downBlocksWithAttention: [true], upBlocksWithAttention: [true], layersPerBlock: 1),
            vae: VAELayout(blockCount: 1, layersPerBlock: 1), textLayerCount: 2)
        let p = "cond_stage_model.model."
        XCTAssertEqual(
            map.destination(of: p + "transformer.resblocks.1.attn.in_proj_weight"),
            .fusedComponent(
                .textEncoder,
                ["q_proj", "k_proj", "v_proj"].enumerated().map { i, name in
                    MappedTensorKey(
                        "text_model.encoder.layers.1.self_attn.\(name).weight", rowBlock: MappedTensorKey.RowBlock(index: i, count: 3))
                }))
        XCTAssertEqual(
            map.destination(of: p + "transformer.resblocks.0.mlp.c_fc.bias"),
            .component(.textEncoder, MappedTensorKey("text_model.encoder.layers.0.mlp.fc1.bias")))
        XCTAssertEqual(
            map.destination(of: p + "positional_embedding"),
            .component(.textEncoder, MappedTensorKey("text_model.embeddings.position_embedding.weight")))
        // The final OpenCLIP layer (SD 2.x uses the penultimate one) and the contrastive heads.
        for dropped in ["transformer.resblocks.2.ln_1.weight", "text_projection", "logit_scale"] {
            XCTAssertEqual(map.destination(of: p + dropped), .dropped, dropped)
        }
        // An unknown OpenCLIP key keeps its name, so strict loading names it as unexpected.
        XCTAssertEqual(map.destination(of: p + "visual.proj"), .component(.textEncoder, MappedTensorKey("visual.proj")))
        XCTAssertEqual(MappedTensorKey("x", rowBlock: MappedTensorKey.RowBlock(index: 2, count: 3)).presentedShape(stored: [96, 32]), [32, 32])
        XCTAssertEqual(MappedTensorKey("x", rowBlock: MappedTensorKey.RowBlock(index: 0, count: 3)).presentedShape(stored: [97, 32]), [97, 32])
    }

    /// Without a configuration folder an SD 2.x file is read with the embedded SD 2.1 configuration
    /// (as diffusers' from_single_file does); this tiny file does not fit it, which is refused before
    /// any allocation, naming the file and that configuration.
    func testSD2FileWithoutConfigurationUsesTheEmbeddedSD21() throws {
        let (file, _) = try resources()
        XCTAssertThrowsError(try StableDiffusionPipeline(path: file)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("sd-2.1/"), message)
            XCTAssertTrue(message.contains(file), message)
        }
    }
}
