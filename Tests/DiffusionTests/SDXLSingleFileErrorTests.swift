import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import XCTest

/// Bad SDXL single files are refused with errors that name the file and the key: a refiner, an
/// unknown layout, a stray or missing key, a family other than the pipeline's, no configuration.
final class SDXLSingleFileErrorTests: XCTestCase {
    private func resources() throws -> (file: String, folder: URL) {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Resources/pipeline-sdxl", withExtension: nil))
        return (dir.appendingPathComponent("tiny-sdxl-original.safetensors").path, dir.appendingPathComponent("tiny-sdxl"))
    }

    /// The fixture without `removed` keys, with `added` keys (0.5 everywhere), or a file of only `added` when `base` is false.
    private func file(removing removed: Set<String> = [], adding added: [String: [Int]] = [:], base: Bool = true) throws -> String {
        try editedCopy(of: base ? try resources().file : nil, removing: removed, adding: added)
    }

    func testRefinerIsRefusedByName() throws {
        let (_, folder) = try resources()
        let key = "conditioner.embedders.0.model.transformer.resblocks.0.attn.in_proj_weight"
        let path = try file(adding: ["model.diffusion_model.input_blocks.0.0.weight": [2], key: [6, 2]], base: false)
        let expected = UnsupportedModelFamilyError(path: path, family: .stableDiffusionXLRefiner, evidence: "key \(key)", singleFile: true)
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: path, configurationFolder: folder)) { error in
            XCTAssertEqual(error as? UnsupportedModelFamilyError, expected)
            XCTAssertTrue("\(error)".contains("Stable Diffusion XL refiner") && "\(error)".contains(key), "\(error)")
        }
        XCTAssertThrowsError(try PipelineLoader.promptConditionedPipeline(path: path, configurationFolder: folder)) { error in
            XCTAssertEqual(error as? UnsupportedModelFamilyError, expected)
        }
    }

    func testUnknownLayoutIsNamed() throws {
        let (_, folder) = try resources()
        let path = try file(adding: ["unet.conv_in.weight": [2], "text.embeddings.weight": [2]], base: false)
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: path, configurationFolder: folder)) { error in
            XCTAssertEqual(
                error as? SingleFileCheckpointError, .unknownLayout(path: path, firstKeys: ["text.embeddings.weight", "unet.conv_in.weight"]))
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("unet.conv_in.weight"), "\(error)")
        }
    }

    func testStrayKeyIsNamedWhenOpened() throws {
        let (_, folder) = try resources()
        let stray = "conditioner.embedders.2.model.ln_final.weight"
        let path = try file(adding: [stray: [4]])
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: path, configurationFolder: folder)) { error in
            XCTAssertEqual(error as? SingleFileCheckpointError, .unclaimedKeys([stray], path: path, family: .stableDiffusionXL))
            XCTAssertTrue("\(error)".contains(stray) && "\(error)".contains("conditioner.embedders.1.model.*"), "\(error)")
        }
    }

    func testUnexpectedAndMissingKeysAreNamed() throws {
        let (_, folder) = try resources()
        // Under a component's prefix, a key that maps to nothing is an unexpected key of that model.
        let extra = try file(adding: ["conditioner.embedders.1.model.transformer.resblocks.0.attn.extra": [4]])
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: extra, configurationFolder: folder)) { error in
            guard case .unexpectedKeys(let keys, let source)? = error as? WeightLoadingError else { return XCTFail("\(error)") }
            XCTAssertEqual(keys, ["transformer.resblocks.0.attn.extra"])
            XCTAssertTrue(source.contains(extra) && source.contains("conditioner.embedders.1.model."), source)
        }
        let missing = try file(removing: ["conditioner.embedders.1.model.text_projection", "model.diffusion_model.label_emb.0.2.bias"])
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: missing, configurationFolder: folder)) { error in
            guard case .missingKeys(let keys, let source)? = error as? WeightLoadingError else { return XCTFail("\(error)") }
            XCTAssertEqual(keys, ["add_embedding.linear_2.bias"])
            XCTAssertTrue(source.contains(missing), source)
        }
        let noProjection = try file(removing: ["conditioner.embedders.1.model.text_projection"])
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: noProjection, configurationFolder: folder)) { error in
            guard case .missingKeys(let keys, _)? = error as? WeightLoadingError else { return XCTFail("\(error)") }
            XCTAssertEqual(keys, ["text_projection.weight"])
        }
    }

    /// An SDXL file given to the SD 1.x / 2.x pipeline, an SD 2.x file given to the SDXL one, and an
    /// SDXL file whose weights do not fit the embedded SDXL base configuration: each named.
    func testFamilyMismatchAndMissingConfiguration() throws {
        let (file, folder) = try resources()
        XCTAssertThrowsError(try StableDiffusionPipeline(path: file)) { error in
            XCTAssertEqual(
                error as? ModelFamilyMismatchError,
                ModelFamilyMismatchError(path: file, family: .stableDiffusionXL, accepted: [.stableDiffusion1, .stableDiffusion2]))
        }
        let sd2 = try XCTUnwrap(Bundle.module.url(forResource: "Resources/pipeline-sd2", withExtension: nil))
        let sd2File = sd2.appendingPathComponent("tiny-sd2-original.safetensors").path
        XCTAssertThrowsError(try StableDiffusionXLPipeline(singleFile: sd2File, configurationFolder: folder)) { error in
            XCTAssertEqual(
                error as? ModelFamilyMismatchError, ModelFamilyMismatchError(path: sd2File, family: .stableDiffusion2, accepted: [.stableDiffusionXL])
            )
        }
        // Without a configuration folder the embedded SDXL base configuration is used: this tiny file
        // is far smaller than SDXL base, which is refused before anything is allocated, naming both.
        XCTAssertThrowsError(try PipelineLoader.promptConditionedPipeline(path: file, configurationFolder: nil)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(file) && message.contains("sdxl-base-1.0/unet/config.json"), message)
        }
        // Through the loader, the same file with its configuration folder is an SDXL pipeline.
        let loaded = try PipelineLoader.promptConditionedPipeline(path: file, configurationFolder: folder)
        XCTAssertEqual(loaded.conditioningFamily, .stableDiffusionXL)
        XCTAssertEqual(loaded.contextWidth, 64)
    }
}
