@testable import ConceptErasure
import Diffusion
import Foundation
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// Shift files across families: an SD 1.x / 2.x shift on SDXL (and the reverse) is refused with the
/// file and both families named, even forced (the two tiny models have the same context width 64,
/// so only the recorded family tells them apart); SDXL shifts export to LoRA files whose kohya names
/// are the SGM block names diffusers' converter maps back to each module
/// (Resources/sdxl-kohya-names.json, scripts/make_sdxl_sepme_fixtures.py).
final class SDXLShiftFileTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws { scratch = try TinyErasure.temporaryDirectory("sdxl-files") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// A factorised shift on every key/value projection of `model` over a random orthonormal basis of
    /// `rows` × `width`, written to `name` and read back (so it names its file).
    func shift(on model: ShiftSet, name: String, width: Int? = nil, recordFamily: Bool = true) throws -> ConceptShift {
        let d = width ?? model.contextWidth
        var rng = TestRNG(seed: 4)
        let basis = try SVD(DoubleMatrix(rng.tensor([d, d], -1, 1)), kind: .thin).vt.toTensor().sliced(axis: 0, 0..<4)
        let factors = Dictionary(
            uniqueKeysWithValues: model.projections.keyValueProjections.map { key, linear in
                (key, rng.tensor([linear.outFeatures, 4], -1, 1))
            })
        var metadata = ShiftMetadata(
            variant: .separate, concepts: ["a red circle"], protectedPrompts: [], decoupledFrom: [],
            baseFingerprint: model.fingerprint, hyperparameters: ErasureHyperparameters(),
            training: TrainingRecord(stopReason: .closedForm, seconds: 0), nullSpace: nil, restorable: true,
            toolVersion: SepMEInfo.version)
        if recordFamily { metadata = model.recordingModel(in: metadata) }
        let path = scratch.appendingPathComponent(name).path
        try ConceptShift(metadata: metadata, beta: 1e-2, basis: basis, factors: factors).write(to: path)
        return try ConceptShift.read(path: path)
    }

    func assertFamilyMismatch(
        _ body: @autoclosure () throws -> Void, path: String, shiftFamily: String?, shiftWidth: Int, modelFamily: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(
                error as? ErasureError,
                .modelFamilyMismatch(path: path, shiftFamily: shiftFamily, shiftWidth: shiftWidth, modelFamily: modelFamily, modelWidth: 64),
                file: file, line: line)
            let text = "\(error)"
            for part in [path, modelFamily] + (shiftFamily.map { [$0] } ?? []) {
                XCTAssertTrue(text.contains(part), "'\(text)' names \(part)", file: file, line: line)
            }
        }
    }

    func testSD1ShiftOnSDXLAndSDXLShiftOnSD1AreRefusedByFamily() throws {
        let sd1 = try TinyErasure.model()
        let sdxl = try TinyErasure.sdxlModel()
        XCTAssertEqual(sd1.contextWidth, sdxl.contextWidth, "same width: the family alone tells them apart")
        let sd1Shift = try shift(on: sd1, name: "sd1.sepme.safetensors")
        let sdxlShift = try shift(on: sdxl, name: "sdxl.sepme.safetensors")
        XCTAssertEqual(sd1Shift.metadata.modelFamily, .stableDiffusion)
        XCTAssertEqual(sdxlShift.metadata.modelFamily, .stableDiffusionXL)
        for force in [false, true] {
            assertFamilyMismatch(
                try sdxl.install([sd1Shift], force: force), path: sd1Shift.sourcePath!, shiftFamily: "Stable Diffusion 1.x / 2.x",
                shiftWidth: 64, modelFamily: "Stable Diffusion XL")
            assertFamilyMismatch(
                try sd1.install([sdxlShift], force: force), path: sdxlShift.sourcePath!, shiftFamily: "Stable Diffusion XL",
                shiftWidth: 64, modelFamily: "Stable Diffusion 1.x / 2.x")
        }
        XCTAssertTrue(sdxl.installed.isEmpty && sd1.installed.isEmpty, "nothing installed")
        // Each on its own family installs.
        try sdxl.install([sdxlShift])
        try sd1.install([sd1Shift])
    }

    /// A file that does not record its family (written before families were) is refused by its width.
    func testUnrecordedFamilyIsRefusedByWidth() throws {
        let sdxl = try TinyErasure.sdxlModel()
        let narrow = try shift(on: sdxl, name: "narrow.sepme.safetensors", width: 32, recordFamily: false)
        XCTAssertNil(narrow.metadata.modelFamily)
        assertFamilyMismatch(
            try sdxl.install([narrow], force: true), path: narrow.sourcePath!, shiftFamily: nil, shiftWidth: 32,
            modelFamily: "Stable Diffusion XL")
    }

    /// A recorded context width that the weights do not take is a corrupt file.
    func testContextWidthDisagreeingWithTheBasisIsInvalid() throws {
        let sdxl = try TinyErasure.sdxlModel()
        let s = try shift(on: sdxl, name: "w.sepme.safetensors")
        s.metadata.contextWidth = 2048
        let path = scratch.appendingPathComponent("w2048.sepme.safetensors").path
        try s.write(to: path)
        XCTAssertThrowsError(try ConceptShift.read(path: path)) { error in
            guard case .invalidShiftFile(let p, let reason) = error as? ErasureError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertTrue(reason.contains("context_width is 2048") && reason.contains("64"), reason)
        }
    }

    /// kohya: every projection under the SGM name of the fixture (checked there against diffusers'
    /// conversion); diffusers (PEFT): `unet.<module>.lora_A.weight`.
    func testSDXLLoRANamesInBothLayouts() throws {
        let sdxl = try TinyErasure.sdxlModel()
        let s = try shift(on: sdxl, name: "lora.sepme.safetensors")
        let url = Bundle.module.url(forResource: "Resources/sdxl-kohya-names", withExtension: "json")!
        let expected = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url))
        XCTAssertEqual(Set(expected.keys), Set(s.projectionKeys))
        XCTAssertEqual(
            expected["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"], "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k")
        let kohya = scratch.appendingPathComponent("kohya.safetensors").path
        let summary = try LoRAExport.write([s], format: .kohya, to: kohya)
        XCTAssertEqual(summary.maxRank, 4)
        let file = try SafeTensorsFile(path: kohya)
        let names = Set(expected.values)
        XCTAssertEqual(Set(file.keys), Set(names.flatMap { [$0 + ".lora_down.weight", $0 + ".lora_up.weight", $0 + ".alpha"] }))
        XCTAssertEqual(file.metadata["sepme.model_family"], "stable-diffusion-xl")
        XCTAssertEqual(file.metadata["ss_base_model_version"], "sdxl_base_v1-0")
        // up · down of a projection is its ΔW = β A S.
        for (module, name) in expected.sorted(by: { $0.key < $1.key }).prefix(3) {
            let up = Tensor(try file.floats(name + ".lora_up.weight"), shape: try file.info(name + ".lora_up.weight").shape)
            let down = Tensor(try file.floats(name + ".lora_down.weight"), shape: try file.info(name + ".lora_down.weight").shape)
            assertClose(Tensor.matmul(up, down), try XCTUnwrap(s.weightDelta(for: module)), rtol: 1e-5, module)
        }
        let peft = scratch.appendingPathComponent("peft.safetensors").path
        try LoRAExport.write([s], format: .diffusers, to: peft)
        let peftKeys = Set(try SafeTensorsFile(path: peft).keys)
        XCTAssertEqual(peftKeys, Set(expected.keys.flatMap { ["unet.\($0).lora_A.weight", "unet.\($0).lora_B.weight"] }))
    }

    func testKohyaNameOutsideSDXLLayoutIsRefused() {
        let key = "down_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k"
        XCTAssertEqual(
            try KohyaModuleName.name(ofProjection: key, family: .stableDiffusion, source: "f"),
            "lora_unet_down_blocks_1_attentions_2_transformer_blocks_0_attn2_to_k")
        XCTAssertThrowsError(try KohyaModuleName.name(ofProjection: key, family: .stableDiffusionXL, source: "f.sepme.safetensors")) {
            XCTAssertTrue("\($0)".contains("f.sepme.safetensors") && "\($0)".contains(key), "\($0)")
        }
        XCTAssertEqual(
            try KohyaModuleName.name(ofProjection: "mid_block.attentions.0.transformer_blocks.1.attn2.to_v", family: .stableDiffusionXL, source: "f"),
            "lora_unet_middle_block_1_transformer_blocks_1_attn2_to_v")
        XCTAssertEqual(
            try KohyaModuleName.name(
                ofProjection: "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k", family: .stableDiffusionXL, source: "f"),
            "lora_unet_output_blocks_5_1_transformer_blocks_0_attn2_to_k")
    }
}
