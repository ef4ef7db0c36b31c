import Diffusion
import Foundation
import XCTest

/// The UNet and VAE block types are enums: configurations written by this package carry diffusers'
/// class names exactly and read back equal, and an unknown name in a `config.json` is refused with the
/// file, the field, the value and the supported names.
final class BlockTypeTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-blocktypes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let dir = scratch!
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    }

    /// `value` encoded as a JSON object, `edit` applied, written to a fresh `config.json`.
    private func configFile<T: Encodable>(_ value: T, _ edit: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any])
        edit(&object)
        let url = scratch.appendingPathComponent("config-\(UUID().uuidString.prefix(8)).json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url
    }

    /// A UNet with both kinds of down and up block (the toy model's layout).
    private var mixedUNet: UNet2DConditionConfiguration {
        var c = UNet2DConditionConfiguration()
        c.downBlockTypes = [.plain, .crossAttention, .crossAttention]
        c.upBlockTypes = [.crossAttention, .crossAttention, .plain]
        c.blockOutChannels = [32, 64, 96]
        c.attentionHeadDim = .one(4)
        c.normNumGroups = 8
        c.crossAttentionDim = .one(64)
        return c
    }

    func testRawValuesAreDiffusersClassNames() {
        XCTAssertEqual(UNetDownBlockType.allCases.map(\.rawValue), ["CrossAttnDownBlock2D", "DownBlock2D"])
        XCTAssertEqual(UNetUpBlockType.allCases.map(\.rawValue), ["CrossAttnUpBlock2D", "UpBlock2D"])
        XCTAssertEqual(UNetMidBlockType.allCases.map(\.rawValue), ["UNetMidBlock2DCrossAttn"])
        XCTAssertEqual(VAEEncoderBlockType.allCases.map(\.rawValue), ["DownEncoderBlock2D"])
        XCTAssertEqual(VAEDecoderBlockType.allCases.map(\.rawValue), ["UpDecoderBlock2D"])
        XCTAssertEqual(UNetDownBlockType.allCases.map(\.hasCrossAttention), [true, false])
        XCTAssertEqual(UNetUpBlockType.allCases.map(\.hasCrossAttention), [true, false])
    }

    func testUNetConfigurationWritesDiffusersStringsAndReadsBackEqual() throws {
        let c = mixedUNet
        let url = try configFile(c)
        let written = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(written["down_block_types"] as? [String], ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"])
        XCTAssertEqual(written["up_block_types"] as? [String], ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"])
        XCTAssertEqual(written["mid_block_type"] as? String, "UNetMidBlock2DCrossAttn")
        XCTAssertEqual(try UNet2DConditionConfiguration.load(from: url), c)
        XCTAssertEqual(try JSONDecoder().decode(UNet2DConditionConfiguration.self, from: JSONEncoder().encode(c)), c)
        // The model builds attentions exactly where the types say.
        let model = try UNet2DConditionModel(configuration: c)
        XCTAssertEqual(model.down_blocks.map { $0 is CrossAttnDownBlock2D }, [false, true, true])
        XCTAssertEqual(model.up_blocks.map { $0 is CrossAttnUpBlock2D }, [true, true, false])
        let layout = try UNetLayout(downBlockTypes: c.downBlockTypes, upBlockTypes: c.upBlockTypes, layersPerBlock: 2)
        XCTAssertEqual(layout.downBlocksWithAttention, [false, true, true])
        XCTAssertEqual(layout.upBlocksWithAttention, [true, true, false])
    }

    func testVAEConfigurationWritesDiffusersStringsAndReadsBackEqual() throws {
        let c = AutoencoderKLConfiguration.sd14
        let url = try configFile(c)
        let written = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(written["down_block_types"] as? [String], Array(repeating: "DownEncoderBlock2D", count: 4))
        XCTAssertEqual(written["up_block_types"] as? [String], Array(repeating: "UpDecoderBlock2D", count: 4))
        XCTAssertEqual(try AutoencoderKLConfiguration.load(from: url), c)
    }

    func testUnknownUNetBlockTypesAreRefusedWithFieldValueAndSupportedTypes() throws {
        let cases: [(edit: (inout [String: Any]) -> Void, expected: (String) -> UNetConfigurationError)] = [
            (
                { $0["down_block_types"] = ["DownBlock2D", "AttnDownBlock2D", "CrossAttnDownBlock2D"] },
                {
                    .unsupported(
                        path: $0, field: "down_block_types[1]", value: "\"AttnDownBlock2D\"", supported: "CrossAttnDownBlock2D, DownBlock2D")
                }
            ),
            (
                { $0["up_block_types"] = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D"] },
                {
                    .unsupported(
                        path: $0, field: "up_block_types[2]", value: "\"SimpleCrossAttnUpBlock2D\"", supported: "CrossAttnUpBlock2D, UpBlock2D")
                }
            ),
            (
                { $0["mid_block_type"] = "UNetMidBlock2DSimpleCrossAttn" },
                {
                    .unsupported(path: $0, field: "mid_block_type", value: "\"UNetMidBlock2DSimpleCrossAttn\"", supported: "UNetMidBlock2DCrossAttn")
                }
            ),
            (
                { $0["mid_block_type"] = NSNull() },
                { .unsupported(path: $0, field: "mid_block_type", value: "null", supported: "UNetMidBlock2DCrossAttn") }
            )
        ]
        for (edit, expected) in cases {
            let url = try configFile(mixedUNet, edit)
            XCTAssertThrowsError(try UNet2DConditionConfiguration.load(from: url)) { error in
                XCTAssertEqual(error as? UNetConfigurationError, expected(url.path))
            }
        }
        // An entry that is not a string at all is named by the field's decoding.
        let url = try configFile(mixedUNet) { $0["down_block_types"] = ["DownBlock2D", 7, "CrossAttnDownBlock2D"] }
        XCTAssertThrowsError(try UNet2DConditionConfiguration.load(from: url)) { error in
            guard case .unreadable(let path, let reason) = error as? UNetConfigurationError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("down_block_types"), reason)
        }
    }

    func testUnknownVAEBlockTypesAreRefusedWithFieldValueAndSupportedTypes() throws {
        var url = try configFile(AutoencoderKLConfiguration.sd14) {
            $0["down_block_types"] = ["DownEncoderBlock2D", "AttnDownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"]
        }
        XCTAssertThrowsError(try AutoencoderKLConfiguration.load(from: url)) { error in
            XCTAssertEqual(
                error as? AutoencoderKLError,
                .invalidConfig(
                    path: url.path, field: "down_block_types[1]", reason: "'AttnDownEncoderBlock2D' is not supported (only DownEncoderBlock2D)"))
        }
        url = try configFile(AutoencoderKLConfiguration.sd14) { $0["up_block_types"] = "UpDecoderBlock2D" }
        XCTAssertThrowsError(try AutoencoderKLConfiguration.load(from: url)) { error in
            guard case .invalidConfig(let path, let field, _) = error as? AutoencoderKLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(field, "up_block_types")
        }
    }

    func testDecodingAnUnknownNameNamesTheKeyAndTheAcceptedNames() throws {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(mixedUNet)) as? [String: Any])
        object["up_block_types"] = ["CrossAttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
        let data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try JSONDecoder().decode(UNet2DConditionConfiguration.self, from: data)) { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }, ["up_block_types", "1"])
            XCTAssertEqual(context.debugDescription, "'AttnUpBlock2D' is not one of CrossAttnUpBlock2D, UpBlock2D")
        }
    }
}
