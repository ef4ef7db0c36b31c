import Diffusion
import Foundation
import SafeTensors
import XCTest

/// Models of families sepme does not run (SD3, Flux, the SDXL refiner) are refused by name, with
/// what showed the family, before anything else is read; SD 1.x, 2.x and SDXL files are recognised as such.
final class ModelFamilyTests: XCTestCase {
    private func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sepme-family-\(UUID().uuidString)-\(name)")
    }

    private func singleFile(keys: [String]) throws -> URL {
        let url = temporary("model.safetensors")
        var writer = SafeTensorsWriter()
        for key in keys { try writer.add(key, shape: [2], floats: [0.5, -0.5]) }
        try writer.write(to: url.path)
        return url
    }

    func testSingleFilesOfOtherFamiliesAreNamed() throws {
        let cases: [(String, ModelFamily)] = [
            ("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", .stableDiffusion3),
            ("double_blocks.0.img_attn.qkv.weight", .flux),
            ("model.diffusion_model.double_blocks.0.img_attn.qkv.weight", .flux),
            ("conditioner.embedders.0.model.transformer.resblocks.0.attn.in_proj_weight", .stableDiffusionXLRefiner)
        ]
        for (key, family) in cases {
            // The marking key beside ordinary UNet keys: the family mark decides.
            let url = try singleFile(keys: ["model.diffusion_model.input_blocks.0.0.weight", key])
            defer { try? FileManager.default.removeItem(at: url) }
            XCTAssertThrowsError(try StableDiffusionPipeline(path: url.path), key) { error in
                XCTAssertEqual(
                    error as? UnsupportedModelFamilyError,
                    UnsupportedModelFamilyError(path: url.path, family: family, evidence: "key \(key)", singleFile: true))
                let message = "\(error)"
                XCTAssertTrue(message.contains(family.rawValue) && message.contains(key), message)
            }
        }
    }

    func testFoldersOfOtherFamiliesAreNamed() throws {
        let cases: [(String, ModelFamily)] = [
            ("StableDiffusion3Pipeline", .stableDiffusion3), ("FluxPipeline", .flux)
        ]
        for (className, family) in cases {
            let folder = temporary(className)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let index = #"{"_class_name": "\#(className)", "transformer": ["diffusers", "X"], "vae": ["diffusers", "AutoencoderKL"]}"#
            try Data(index.utf8).write(to: folder.appendingPathComponent("model_index.json"))
            XCTAssertThrowsError(try ModelFolder(path: folder.path), className) { error in
                XCTAssertEqual(
                    error as? UnsupportedModelFamilyError,
                    UnsupportedModelFamilyError(
                        path: folder.appendingPathComponent("model_index.json").path, family: family,
                        evidence: "_class_name \(className)"))
            }
        }
    }

    func testStableDiffusion1And2AreRecognised() throws {
        let resources = try XCTUnwrap(Bundle.module.url(forResource: "Resources", withExtension: nil))
        let sd1 = try SafeTensorsFile(path: resources.appendingPathComponent("single-file/tiny-sd1.safetensors").path)
        let sd2 = try SafeTensorsFile(path: resources.appendingPathComponent("pipeline-sd2/tiny-sd2-original.safetensors").path)
        XCTAssertEqual(ModelFamily.detect(singleFileKeys: sd1.keys)?.family, .stableDiffusion1)
        XCTAssertEqual(ModelFamily.detect(singleFileKeys: sd2.keys)?.family, .stableDiffusion2)
        let sdxl = try SafeTensorsFile(path: resources.appendingPathComponent("pipeline-sdxl/tiny-sdxl-original.safetensors").path)
        XCTAssertEqual(ModelFamily.detect(singleFileKeys: sdxl.keys)?.family, .stableDiffusionXL)
        XCTAssertNil(ModelFamily.detect(singleFileKeys: ["weight", "bias"]))
        XCTAssertNil(ModelFamily.family(ofPipelineClass: "StableDiffusionPipeline"))
        XCTAssertNoThrow(try ModelFolder(path: resources.appendingPathComponent("pipeline-sd2/tiny-sd2").path))
    }
}
