import Foundation
import XCTest
@testable import SafeTensors

/// Files written by Python `safetensors.torch.save_file` (scripts/make_safetensors_fixtures.py) read back
/// exactly, and the Swift writer reproduces the Python writer's bytes and torch's F16/BF16 rounding.
final class SafeTensorsCompatibilityTests: XCTestCase {
    private struct ExpectedFile: Decodable {
        struct Tensor: Decodable {
            let dtype: String
            let shape: [Int]
            let float32_bits: [Int32]?
            let int64: [Int64]?
        }
        let metadata: [String: String]
        let tensors: [String: Tensor]
    }

    /// Every tensor of reference_mixed.safetensors matches torch's values bit for bit (tolerance 0):
    /// floats against torch's `.float()` bit patterns, integers against `.tolist()`.
    func testReadsPythonWrittenFileExactly() throws {
        let file = try SafeTensorsFile(path: try SafeTensorsTestHelpers.fixturePath("reference_mixed.safetensors"))
        let expectedData = try Data(contentsOf: URL(fileURLWithPath: try SafeTensorsTestHelpers.fixturePath("reference_expected.json")))
        let expected = try JSONDecoder().decode(ExpectedFile.self, from: expectedData)

        XCTAssertEqual(file.metadata, expected.metadata)
        XCTAssertEqual(file.keys, expected.tensors.keys.sorted())
        for (key, tensor) in expected.tensors {
            let info = try file.info(key)
            XCTAssertEqual(info.dtype.rawValue, tensor.dtype, key)
            XCTAssertEqual(info.shape, tensor.shape, key)
            if let bits = tensor.float32_bits {
                let values = try file.floats(key)
                XCTAssertEqual(values.map { Int32(bitPattern: $0.bitPattern) }, bits, key)
            }
            if let integers = tensor.int64 {
                XCTAssertEqual(try file.int64s(key), integers, key)
                XCTAssertEqual(try file.floats(key), integers.map(Float.init), key)
            }
        }
    }

    /// F16/BF16 decoding agrees with torch's conversion stored next to each tensor as F32 (`<name>_as_f32`).
    func testHalfPrecisionDecodingMatchesTorchFloatConversion() throws {
        let file = try SafeTensorsFile(path: try SafeTensorsTestHelpers.fixturePath("reference_mixed.safetensors"))
        let halfKeys = file.keys.filter { !$0.hasSuffix("_as_f32") && file.keys.contains($0 + "_as_f32") }
        XCTAssertEqual(halfKeys.sorted(), ["special_bf16", "special_f16", "values_f64", "weight_bf16", "weight_f16"])
        for key in halfKeys {
            let decoded = try file.floats(key)
            let torchDecoded = try file.floats(key + "_as_f32")
            XCTAssertEqual(decoded.map(\.bitPattern), torchDecoded.map(\.bitPattern), key)
        }
    }

    /// Encoding `source` to F16/BF16 gives the same bits as torch's `.half()` / `.bfloat16()`, including
    /// round-to-nearest-even ties, subnormals and overflow. NaN payloads differ between torch's scalar and
    /// vectorised paths, so for NaN inputs only NaN-ness is compared.
    func testEncodingMatchesTorchRoundToNearestEven() throws {
        let reference = try SafeTensorsFile(path: try SafeTensorsTestHelpers.fixturePath("rounding_reference.safetensors"))
        let source = try reference.floats("source")
        XCTAssertGreaterThan(source.count, 200)
        var writer = SafeTensorsWriter()
        try writer.add("f16", shape: [source.count], floats: source, dtype: .f16)
        try writer.add("bf16", shape: [source.count], floats: source, dtype: .bf16)
        let directory = try SafeTensorsTestHelpers.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rounded.safetensors").path
        try writer.write(to: path)
        let written = try SafeTensorsFile(path: path)

        for (ours, torchKey) in [("f16", "torch_f16"), ("bf16", "torch_bf16")] {
            let oursBits = Self.uint16s(try written.rawBytes(ours))
            let torchBits = Self.uint16s(try reference.rawBytes(torchKey))
            XCTAssertEqual(oursBits.count, source.count)
            XCTAssertEqual(torchBits.count, source.count)
            var mismatches = 0
            for i in 0..<source.count where source[i].isNaN ? false : oursBits[i] != torchBits[i] {
                mismatches += 1
                XCTFail("\(ours): source \(source[i]) -> \(oursBits[i]), torch \(torchBits[i])")
            }
            XCTAssertEqual(mismatches, 0)
            let oursDecoded = try written.floats(ours)
            let torchDecoded = try reference.floats(torchKey)
            for i in 0..<source.count where source[i].isNaN {
                XCTAssertTrue(oursDecoded[i].isNaN && torchDecoded[i].isNaN, "\(ours) NaN at \(i)")
            }
        }
    }

    /// Re-writing python_written.safetensors' tensors with the Swift writer reproduces its bytes exactly
    /// (same header JSON, ordering, escaping, padding and data layout).
    /// Set SAFETENSORS_EXPORT_DIR to also keep the Swift-written file, then check it with
    /// `python3 scripts/make_safetensors_fixtures.py --check-swift-file <dir>/swift_written.safetensors`.
    func testSwiftWriterReproducesPythonWriterBytes() throws {
        let pythonPath = try SafeTensorsTestHelpers.fixturePath("python_written.safetensors")
        let python = try SafeTensorsFile(path: pythonPath)
        XCTAssertEqual(python.keys.count, 7)
        var writer = SafeTensorsWriter()
        for key in python.keys.reversed() {  // insertion order must not matter
            let info = try python.info(key)
            if info.dtype == .i64 {
                try writer.add(key, shape: info.shape, int64s: try python.int64s(key))
            } else {
                try writer.add(key, shape: info.shape, floats: try python.floats(key), dtype: info.dtype)
            }
        }
        let pythonBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pythonPath)))
        let swiftBytes = writer.serialized(metadata: python.metadata)
        XCTAssertEqual(swiftBytes.count, pythonBytes.count)
        XCTAssertEqual(swiftBytes, pythonBytes, "Swift header: \(String(decoding: swiftBytes.dropFirst(8).prefix(400), as: UTF8.self))")

        // `write` streams the same bytes to disk.
        let temporary = try SafeTensorsTestHelpers.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: temporary) }
        let exportDirectory = ProcessInfo.processInfo.environment["SAFETENSORS_EXPORT_DIR"] ?? temporary.path
        let swiftPath = exportDirectory + "/swift_written.safetensors"
        try writer.write(to: swiftPath, metadata: python.metadata)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: swiftPath))), pythonBytes)
    }

    private static func uint16s(_ bytes: UnsafeRawBufferPointer) -> [UInt16] {
        (0..<bytes.count / 2).map { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
    }
}
