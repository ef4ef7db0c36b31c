import CLIP
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// Hub folders that hold only half-precision variant files (`save_pretrained(variant="fp16")`:
/// `unet/diffusion_pytorch_model.fp16.safetensors`, `text_encoder/model.fp16.safetensors`,
/// `vae/diffusion_pytorch_model.fp16.safetensors`) load as the plain folder does: the same tensors,
/// the same latents bit for bit. Made from a copy of the SD 2.x fixture folder with its files renamed.
final class VariantFolderTests: XCTestCase {
    private static let weightFiles = [
        "unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors"
    ]

    private func plainFolder() throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Resources/pipeline-sd2/tiny-sd2", withExtension: nil))
    }

    /// A copy of the fixture folder with every weights file renamed to its fp16 variant name.
    private func variantCopy() throws -> URL {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-variant-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: try plainFolder(), to: tmp)
        for relative in Self.weightFiles {
            let plain = tmp.appendingPathComponent(relative)
            let variant = plain.deletingLastPathComponent()
                .appendingPathComponent(ComponentWeightsFile.variantName(of: plain.lastPathComponent))
            try FileManager.default.moveItem(at: plain, to: variant)
        }
        return tmp
    }

    func testVariantNamesAreDiffusers() {
        XCTAssertEqual(ComponentWeightsFile.variantName(of: "model.safetensors"), "model.fp16.safetensors")
        XCTAssertEqual(
            ComponentWeightsFile.variantName(of: "diffusion_pytorch_model.safetensors"),
            "diffusion_pytorch_model.fp16.safetensors")
    }

    func testFolderOfOnlyFP16VariantsGivesTheSameLatents() throws {
        let tmp = try variantCopy()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let folder = try ModelFolder(path: tmp.path)
        XCTAssertEqual(folder.unetWeights.lastPathComponent, "diffusion_pytorch_model.fp16.safetensors")
        XCTAssertEqual(folder.textEncoderWeights.lastPathComponent, "model.fp16.safetensors")
        XCTAssertEqual(folder.vaeWeights?.lastPathComponent, "diffusion_pytorch_model.fp16.safetensors")
        let variant = try StableDiffusionPipeline(folder: folder)
        let plain = try StableDiffusionPipeline(folder: ModelFolder(path: try plainFolder().path))
        let options = GenerationOptions(prompts: ["a red circle"], seed: 4, steps: 3, guidance: 7.5)
        let a = try variant.generate(options).latents
        let b = try plain.generate(options).latents
        XCTAssertEqual(a.shape, b.shape)
        XCTAssertEqual(maxErrors(a, b).abs, 0, "a variant folder must load the very same weights")
        XCTAssertGreaterThan(maxErrors(a, b).refMax, 0, "the latents are not all zero")
    }

    /// The plain file wins when both are present (diffusers without `variant=`).
    func testPlainFileIsPreferredOverTheVariant() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-variant-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: try plainFolder(), to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let unet = tmp.appendingPathComponent("unet")
        try Data("not safetensors".utf8).write(to: unet.appendingPathComponent("diffusion_pytorch_model.fp16.safetensors"))
        let folder = try ModelFolder(path: tmp.path)
        XCTAssertEqual(folder.unetWeights.lastPathComponent, "diffusion_pytorch_model.safetensors")
        XCTAssertNoThrow(try UNet2DConditionModel.load(folder: unet))
    }

    func testMissingWeightsNameBothFileNames() throws {
        let tmp = try variantCopy()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("text_encoder/model.fp16.safetensors"))
        XCTAssertThrowsError(try ModelFolder(path: tmp.path)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("text_encoder/model.safetensors"), message)
            XCTAssertTrue(message.contains("model.fp16.safetensors"), message)
        }
        XCTAssertThrowsError(try CLIPTextModel.load(folder: tmp.appendingPathComponent("text_encoder"))) { error in
            XCTAssertTrue("\(error)".contains("model.fp16.safetensors"), "\(error)")
        }
    }
}
