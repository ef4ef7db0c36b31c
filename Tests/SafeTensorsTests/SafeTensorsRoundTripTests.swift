import Foundation
import XCTest
@testable import SafeTensors

/// Writer -> reader round trips and API-level errors.
final class SafeTensorsRoundTripTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try SafeTensorsTestHelpers.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testRoundTripAllDTypesEmptyScalarAndMetadata() throws {
        // Values exactly representable in F16 and BF16, so all three dtypes must return them unchanged.
        let values: [Float] = [0, -0.5, 1.25, -3, 96, 0.0078125]
        var writer = SafeTensorsWriter()
        try writer.add("w32", shape: [2, 3], floats: values)
        try writer.add("w16", shape: [3, 2], floats: values, dtype: .f16)
        try writer.add("wbf16", shape: [6], floats: values, dtype: .bf16)
        try writer.add("empty", shape: [0, 4], floats: [])
        try writer.add("scalar", shape: [], floats: [-7.5])
        try writer.add("ids", shape: [1, 3], int64s: [49406, -2, Int64(1) << 50])
        let path = directory.appendingPathComponent("round.safetensors").path
        try writer.write(to: path, metadata: ["format": "pt", "note": "a \"quoted\" \\ value\n"])

        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.keys, ["empty", "ids", "scalar", "w16", "w32", "wbf16"])
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "a \"quoted\" \\ value\n"])
        XCTAssertEqual(try file.floats("w32"), values)
        XCTAssertEqual(try file.floats("w16"), values)
        XCTAssertEqual(try file.floats("wbf16"), values)
        XCTAssertEqual(try file.info("w16").dtype, .f16)
        XCTAssertEqual(try file.info("w16").shape, [3, 2])
        XCTAssertEqual(try file.info("w16").byteRange.count, 12)
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.info("empty").shape, [0, 4])
        XCTAssertEqual(try file.floats("scalar"), [-7.5])
        XCTAssertEqual(try file.info("scalar").shape, [])
        XCTAssertEqual(try file.int64s("ids"), [49406, -2, Int64(1) << 50])
        XCTAssertEqual(try file.rawBytes("w32").count, 24)

        var destination = [Float](repeating: .nan, count: 6)
        try destination.withUnsafeMutableBufferPointer {
            try file.copyFloats("wbf16", into: $0.baseAddress!, count: $0.count)
        }
        XCTAssertEqual(destination, values)
    }

    /// `write` streams the same bytes `serialized` returns, through the shared atomic writer: no temporary
    /// is left, and a failure names the path and the system's reason (never a Foundation error text).
    func testWriteStoresTheSerializedBytesAtomically() throws {
        var writer = SafeTensorsWriter()
        try writer.add("b", shape: [3, 5], floats: (0..<15).map { Float($0) / 7 }, dtype: .bf16)
        try writer.add("a", shape: [2], int64s: [7, -7])
        let path = directory.appendingPathComponent("s.safetensors").path
        try writer.write(to: path, metadata: ["k": "v"])
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), writer.serialized(metadata: ["k": "v"]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["s.safetensors"])
        let missing = directory.appendingPathComponent("missing/s.safetensors").path
        XCTAssertThrowsError(try writer.write(to: missing)) { error in
            XCTAssertEqual(
                error as? SafeTensorsError,
                .writeFailed(
                    path: missing, reason: "create a temporary file failed: in folder '\(directory.path)/missing': No such file or directory"))
        }
    }

    func testHeaderIsPaddedToMultipleOfEight() throws {
        for nameLength in 1...9 {
            var writer = SafeTensorsWriter()
            try writer.add(String(repeating: "x", count: nameLength), shape: [1], floats: [1])
            let bytes = writer.serialized()
            let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            XCTAssertEqual(headerLength % 8, 0, "name length \(nameLength)")
            XCTAssertEqual(bytes.count, 8 + Int(headerLength) + 4)
        }
    }

    func testWriterRejectsDuplicateNamesBadShapesAndIntegerFloatDTypes() throws {
        var writer = SafeTensorsWriter()
        try writer.add("a", shape: [2], floats: [1, 2])
        XCTAssertThrowsError(try writer.add("a", shape: [1], floats: [1])) {
            XCTAssertEqual($0 as? SafeTensorsError, .duplicateName(name: "a"))
        }
        XCTAssertThrowsError(try writer.add("a", shape: [1], int64s: [1])) {
            XCTAssertEqual($0 as? SafeTensorsError, .duplicateName(name: "a"))
        }
        XCTAssertThrowsError(try writer.add("__metadata__", shape: [1], floats: [1])) {
            XCTAssertEqual($0 as? SafeTensorsError, .duplicateName(name: "__metadata__"))
        }
        XCTAssertThrowsError(try writer.add("b", shape: [2, 2], floats: [1, 2, 3])) {
            XCTAssertEqual($0 as? SafeTensorsError, .invalidShape(name: "b", shape: [2, 2], valueCount: 3))
            XCTAssertTrue(String(describing: $0).contains("'b'"))
        }
        XCTAssertThrowsError(try writer.add("c", shape: [-1], floats: [])) {
            XCTAssertEqual($0 as? SafeTensorsError, .invalidShape(name: "c", shape: [-1], valueCount: 0))
        }
        XCTAssertThrowsError(try writer.add("d", shape: [1], floats: [1], dtype: .i32)) {
            XCTAssertEqual($0 as? SafeTensorsError, .unsupportedWriteDType(name: "d", dtype: "I32", source: "Float"))
        }
        XCTAssertEqual(writer.tensorNames, ["a"])
    }

    func testAccessErrorsNameFileAndKey() throws {
        var writer = SafeTensorsWriter()
        try writer.add("weights", shape: [2], floats: [1, 2])
        let path = directory.appendingPathComponent("access.safetensors").path
        try writer.write(to: path)
        let file = try SafeTensorsFile(path: path)

        XCTAssertThrowsError(try file.floats("missing")) {
            XCTAssertEqual($0 as? SafeTensorsError, .keyNotFound(path: path, key: "missing"))
            XCTAssertTrue(String(describing: $0).contains(path))
            XCTAssertTrue(String(describing: $0).contains("missing"))
        }
        XCTAssertThrowsError(try file.int64s("weights")) {
            XCTAssertEqual(
                $0 as? SafeTensorsError,
                .unsupportedConversion(path: path, key: "weights", dtype: "F32", target: "Int64"))
        }
        var three = [Float](repeating: 0, count: 3)
        XCTAssertThrowsError(
            try three.withUnsafeMutableBufferPointer {
                try file.copyFloats("weights", into: $0.baseAddress!, count: 3)
            }
        ) {
            XCTAssertEqual(
                $0 as? SafeTensorsError,
                .elementCountMismatch(path: path, key: "weights", expected: 2, found: 3))
        }
    }

    func testFloat16ConversionIsExactForEveryBitPattern() {
        // Every finite binary16 value must survive F16 -> F32 -> F16 unchanged (NaNs stay NaN).
        for bits in UInt16.min...UInt16.max {
            let value = HalfPrecision.float(fromHalfBits: bits)
            if value.isNaN {
                XCTAssertTrue(HalfPrecision.float(fromHalfBits: HalfPrecision.halfBits(from: value)).isNaN)
            } else if HalfPrecision.halfBits(from: value) != bits {
                XCTFail("half bits \(bits) -> \(value) -> \(HalfPrecision.halfBits(from: value))")
            }
            let bfloat = HalfPrecision.float(fromBFloat16Bits: bits)
            if !bfloat.isNaN, HalfPrecision.bfloat16Bits(from: bfloat) != bits {
                XCTFail("bfloat16 bits \(bits) -> \(bfloat) -> \(HalfPrecision.bfloat16Bits(from: bfloat))")
            }
        }
    }
}
