import Foundation
import SafeTensors
import TestSupport
import XCTest

/// `erase`, `inspect`, `generate --shift`, `apply` and `export-lora` on the tiny SDXL folder of
/// scripts/make_sdxl_sepme_fixtures.py, and shift files of one family refused on the other by name.
final class SDXLErasureCommandLineTests: XCTestCase {
    static let tinySDXL = CommandLineTests.packageRoot.appendingPathComponent("Tests/ConceptErasureTests/Resources/tiny-sdxl-sepme")

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-sdxl-erase-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// Erases "a red circle" on `model` (a short run) into `folder`; returns the shift file's path.
    func erase(_ model: URL, into folder: String) throws -> String {
        let output = scratch.appendingPathComponent(folder)
        let r = try CommandLineTests.run([
            "erase", "--model", model.path, "--concept", "a red circle", "--protect", "zq watermark", "--images", "1",
            "--generation-steps", "2", "--max-iterations", "4", "--beta", "0.03", "--output", output.path, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        return output.appendingPathComponent("a-red-circle.sepme.safetensors").path
    }

    func testEraseInspectGenerateApplyAndExportOnSDXL() throws {
        let shift = try erase(Self.tinySDXL, into: "shifts")
        let inspect = try CommandLineTests.run(["inspect", shift])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("Stable Diffusion XL, context width 64"), inspect.stdout)

        let png = scratch.appendingPathComponent("erased.png").path
        let g = try CommandLineTests.run([
            "generate", "--model", Self.tinySDXL.path, "--prompt", "a red circle", "--steps", "2", "--shift", shift,
            "--output", png, "--quiet"
        ])
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: png))

        // apply: a complete SDXL folder, which generates in turn.
        let applied = scratch.appendingPathComponent("applied")
        let a = try CommandLineTests.run(["apply", "--model", Self.tinySDXL.path, "--shift", shift, "--output", applied.path, "--quiet"])
        XCTAssertEqual(a.status, 0, a.stderr)
        for part in ["model_index.json", "text_encoder_2/model.safetensors", "tokenizer_2/tokenizer.json", "vae/config.json", "unet/config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: applied.appendingPathComponent(part).path), part)
        }
        let changed = try SafeTensorsFile(path: applied.appendingPathComponent("unet/diffusion_pytorch_model.safetensors").path)
        XCTAssertEqual(
            try changed.info("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight").dtype, .f32, "shifted weights kept in F32")
        let again = try CommandLineTests.run([
            "generate", "--model", applied.path, "--prompt", "a red circle", "--steps", "1",
            "--output", scratch.appendingPathComponent("applied.png").path, "--quiet"
        ])
        XCTAssertEqual(again.status, 0, again.stderr)

        // export-lora kohya: SGM block names.
        let lora = scratch.appendingPathComponent("kohya.safetensors").path
        let e = try CommandLineTests.run(["export-lora", "--shift", shift, "--format", "kohya", "--output", lora])
        XCTAssertEqual(e.status, 0, e.stderr)
        let keys = try SafeTensorsFile(path: lora).keys
        XCTAssertEqual(keys.count, 3 * 34)
        XCTAssertTrue(keys.contains("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight"))
        XCTAssertTrue(keys.contains("lora_unet_middle_block_1_transformer_blocks_1_attn2_to_v.alpha"))
        XCTAssertTrue(
            keys.allSatisfy {
                $0.hasPrefix("lora_unet_input_blocks_") || $0.hasPrefix("lora_unet_middle_block_1_") || $0.hasPrefix("lora_unet_output_blocks_")
            })
    }

    /// Both models have context width 64: the recorded family is what tells their shifts apart.
    func testShiftsOfTheOtherFamilyAreRefusedByName() throws {
        let sd1Shift = try erase(CommandLineTests.tinySepME, into: "sd1")
        let sdxlShift = try erase(Self.tinySDXL, into: "sdxl")
        try CommandLineTests.assertFails(
            [
                "generate", "--model", Self.tinySDXL.path, "--prompt", "x", "--steps", "1", "--shift", sd1Shift, "--force",
                "--output", scratch.appendingPathComponent("x.png").path, "--quiet"
            ],
            mentions: [sd1Shift, "Stable Diffusion 1.x / 2.x", "Stable Diffusion XL", "context width 64"], unchanged: scratch)
        try CommandLineTests.assertFails(
            ["apply", "--model", CommandLineTests.tinySepME.path, "--shift", sdxlShift, "--output", scratch.appendingPathComponent("out").path],
            mentions: [sdxlShift, "made for a Stable Diffusion XL model", "this model is Stable Diffusion 1.x / 2.x"], unchanged: scratch)
    }
}
