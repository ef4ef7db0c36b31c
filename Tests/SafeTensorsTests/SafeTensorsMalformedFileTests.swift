import Foundation
import TensorEngine
import XCTest
@testable import SafeTensors

/// Each malformed file gives its own `SafeTensorsError` case naming the file and key; random corruption
/// never crashes; failed writes leave nothing behind.
final class SafeTensorsMalformedFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try SafeTensorsTestHelpers.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Writes `bytes` to a fresh file and returns the error thrown by opening it.
    private func openError(
        _ bytes: [UInt8], name: String = "bad.safetensors",
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (SafeTensorsError, String) {
        let url = directory.appendingPathComponent(name)
        try SafeTensorsTestHelpers.write(bytes, to: url)
        do {
            _ = try SafeTensorsFile(path: url.path)
        } catch let error as SafeTensorsError {
            XCTAssertTrue(error.description.contains(url.path), "message lacks path: \(error)", file: file, line: line)
            return (error, url.path)
        }
        XCTFail("opening succeeded", file: file, line: line)
        throw XCTSkip("no error")
    }

    private func header(_ entries: String) -> String { "{\(entries)}" }

    func testFileLevelErrors() throws {
        let missing = directory.appendingPathComponent("missing.safetensors").path
        XCTAssertThrowsError(try SafeTensorsFile(path: missing)) {
            XCTAssertEqual($0 as? SafeTensorsError, .fileNotFound(path: missing))
        }
        XCTAssertThrowsError(try SafeTensorsFile(path: directory.path)) {
            guard case .unreadableFile(let path, _)? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, directory.path)
        }

        var (error, path) = try openError([1, 2, 3, 4, 5])
        XCTAssertEqual(error, .truncatedFile(path: path, fileSize: 5))
        (error, path) = try openError([], name: "empty.safetensors")
        XCTAssertEqual(error, .truncatedFile(path: path, fileSize: 0))

        let valid = header(#""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#)
        (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: valid, data: [0, 0, 0, 0], lengthPrefix: 200_000_000))
        XCTAssertEqual(error, .headerTooLarge(path: path, headerLength: 200_000_000, limit: 100_000_000))
        let pastEnd = UInt64(valid.utf8.count + 5)
        (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: valid, data: [0, 0, 0, 0], lengthPrefix: pastEnd))
        XCTAssertEqual(error, .headerLengthPastEnd(path: path, headerLength: pastEnd, fileSize: 8 + valid.utf8.count + 4))
        (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: valid, data: [0, 0, 0, 0], lengthPrefix: UInt64.max))
        XCTAssertEqual(error, .headerTooLarge(path: path, headerLength: UInt64.max, limit: 100_000_000))
    }

    func testInvalidJSON() throws {
        for text in ["{\"a\": ", "[1, 2]", "\"text\"", "", "{\"a\":{\"dtype\":\"F32\"}} trailing"] {
            let (error, _) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: []))
            guard case .invalidJSON = error else {
                XCTFail("\(text): \(error)")
                continue
            }
        }
        // Header bytes that are not UTF-8: `{` 0xFF `}`.
        let (error, _) = try openError([3, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0xFF, 0x7D], name: "utf8.safetensors")
        guard case .invalidJSON = error else { return XCTFail("\(error)") }
    }

    func testInvalidEntries() throws {
        let cases: [(String, String)] = [
            (#""w":{"shape":[1],"data_offsets":[0,4]}"#, "dtype"),
            (#""w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}"#, "shape"),
            (#""w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}"#, "2 elements"),
            (#""w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}"#, "negative"),
            (#""w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}"#, "shape"),
            (#""w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}"#, "elements"),
            (#""w":[1,2]"#, "dtype")
        ]
        for (entries, fragment) in cases {
            let (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: header(entries), data: [0, 0, 0, 0]))
            guard case .invalidEntry(path, "w", let reason) = error else {
                XCTFail("\(entries): \(error)")
                continue
            }
            XCTAssertTrue(error.description.contains("'w'"), "\(error)")
            XCTAssertTrue(reason.contains(fragment), "\(entries): \(reason)")
        }
        let (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: header(#""__metadata__":{"n":1}"#), data: []))
        guard case .invalidEntry(path, "__metadata__", _) = error else { return XCTFail("\(error)") }
    }

    func testUnknownDType() throws {
        let text = header(#""w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}"#)
        let (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: [0, 0, 0, 0]))
        XCTAssertEqual(error, .unknownDType(path: path, key: "w", dtype: "F8_E4M3"))
        XCTAssertTrue(error.description.contains("F8_E4M3") && error.description.contains("BF16"))
    }

    func testShapeByteMismatch() throws {
        let text = header(#""w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}"#)
        let (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: Array(repeating: 0, count: 16)))
        XCTAssertEqual(error, .shapeByteMismatch(path: path, key: "w", dtype: "F32", shape: [2, 2], expectedBytes: 16, foundBytes: 12))
        XCTAssertTrue(error.description.contains("16") && error.description.contains("12"))
    }

    func testOffsetsOutOfRange() throws {
        var text = header(#""w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}"#)
        var (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: Array(repeating: 0, count: 8)))
        XCTAssertEqual(error, .offsetsOutOfRange(path: path, key: "w", offsets: [0, 16], dataSectionSize: 8))
        text = header(#""w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}"#)
        (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: Array(repeating: 0, count: 8)))
        XCTAssertEqual(error, .offsetsOutOfRange(path: path, key: "w", offsets: [8, 4], dataSectionSize: 8))
        text = header(#""w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}"#)
        (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: Array(repeating: 0, count: 8)))
        XCTAssertEqual(error, .offsetsOutOfRange(path: path, key: "w", offsets: [-4, 0], dataSectionSize: 8))
    }

    func testOverlappingOffsets() throws {
        let text = header(#""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#)
        let (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: Array(repeating: 0, count: 12)))
        XCTAssertEqual(error, .overlappingOffsets(path: path, key: "b", otherKey: "a"))
        // An empty tensor strictly inside another tensor's bytes also overlaps; one at a boundary does not.
        let inside = header(#""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}"#)
        let (insideError, insidePath) = try openError(
            SafeTensorsTestHelpers.fileBytes(header: inside, data: Array(repeating: 0, count: 8)), name: "inside.safetensors")
        XCTAssertEqual(insideError, .overlappingOffsets(path: insidePath, key: "e", otherKey: "a"))
        let boundary = header(
            #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}"#
        )
        let url = directory.appendingPathComponent("boundary.safetensors")
        try SafeTensorsTestHelpers.write(SafeTensorsTestHelpers.fileBytes(header: boundary, data: Array(repeating: 0, count: 8)), to: url)
        XCTAssertEqual(try SafeTensorsFile(path: url.path).keys, ["a", "e", "z"])
    }

    /// A key repeated in the JSON object is refused (Python's reader keeps the last copy, JSONDecoder the first).
    func testDuplicateJSONKeyIsRejected() throws {
        let text = header(#""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#)
        let (error, path) = try openError(SafeTensorsTestHelpers.fileBytes(header: text, data: Array(repeating: 0, count: 8)))
        XCTAssertEqual(error, .invalidEntry(path: path, key: "a", reason: "key appears more than once in the header"))
        let escaped = header(#""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#)
        let (escapedError, _) = try openError(
            SafeTensorsTestHelpers.fileBytes(header: escaped, data: Array(repeating: 0, count: 8)),
            name: "escaped.safetensors")
        guard case .invalidEntry(_, _, "key appears more than once in the header") = escapedError else {
            return XCTFail("\(escapedError)")
        }
    }

    /// 5000 seeded random corruptions of a valid file (header bytes, JSON-significant characters, the
    /// 8-byte length, truncation, data bytes): each open either throws a SafeTensorsError or yields a file
    /// whose every tensor reads back with the byte count and element count its header promises.
    func testRandomCorruptionNeverCrashes() throws {
        var writer = SafeTensorsWriter()
        try writer.add("w.f32", shape: [2, 3], floats: [1, -2, 3, -4, 5, -6])
        try writer.add("w.f16", shape: [3], floats: [0.5, 1, 2], dtype: .f16)
        try writer.add("w.bf16", shape: [1, 2], floats: [8, -8], dtype: .bf16)
        try writer.add("ids", shape: [2], int64s: [49406, 49407])
        try writer.add("empty", shape: [0], floats: [])
        try writer.add("scalar", shape: [], floats: [3])
        let original = writer.serialized(metadata: ["format": "pt"])
        let headerLength = Int(original[0]) | Int(original[1]) << 8
        let jsonBytes = Array("{}[],:\"-0123456789e.E+ \\tfnul".utf8)
        var generator = SplitMix64(seed: 0x5AFE_7E45)
        var outcomes: [String: Int] = [:]
        let url = directory.appendingPathComponent("fuzz.safetensors")

        for iteration in 0..<5000 {
            var bytes = original
            let mutations = 1 + Int(generator.next() % 3)
            for _ in 0..<mutations {
                switch generator.next() % 7 {
                case 0:  // random byte in the header
                    bytes[8 + Int(generator.next() % UInt64(headerLength))] = UInt8(truncatingIfNeeded: generator.next())
                case 1:  // JSON-significant character in the header
                    bytes[8 + Int(generator.next() % UInt64(headerLength))] = jsonBytes[Int(generator.next() % UInt64(jsonBytes.count))]
                case 2:  // one byte of the length prefix
                    bytes[Int(generator.next() % 8)] = UInt8(truncatingIfNeeded: generator.next())
                case 3:  // small change of the length prefix
                    let delta = Int(generator.next() % 33) - 16
                    let length = max(0, headerLength + delta)
                    for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: length >> (8 * i)) }
                case 4:  // truncate
                    bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count + 1))))
                case 5:  // random data byte
                    if bytes.count > 8 + headerLength {
                        bytes[8 + headerLength + Int(generator.next() % UInt64(bytes.count - 8 - headerLength))] ^= 0xFF
                    }
                default:  // replace a digit run in the header with a random (possibly huge) number
                    let position = 8 + Int(generator.next() % UInt64(headerLength))
                    if position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                        let replacement = Array(String(generator.next() >> (generator.next() % 64)).utf8)
                        bytes.replaceSubrange(position...position, with: replacement)
                    }
                }
                if bytes.count < 8 + headerLength { break }
            }
            try SafeTensorsTestHelpers.write(bytes, to: url)
            do {
                let file = try SafeTensorsFile(path: url.path)
                try checkConsistent(file, fileSize: bytes.count, iteration: iteration)
                outcomes["parsed", default: 0] += 1
            } catch let error as SafeTensorsError {
                outcomes[Self.caseName(error), default: 0] += 1
            } catch {
                XCTFail("iteration \(iteration): unexpected error type \(error)")
            }
        }
        print("fuzz outcomes: \(outcomes.sorted { $0.key < $1.key })")
        XCTAssertEqual(outcomes.values.reduce(0, +), 5000)
        XCTAssertGreaterThan(outcomes["parsed", default: 0], 100, "\(outcomes)")
        XCTAssertGreaterThanOrEqual(outcomes.count, 6, "too few distinct outcomes: \(outcomes)")
    }

    private func checkConsistent(_ file: SafeTensorsFile, fileSize: Int, iteration: Int) throws {
        for key in file.keys {
            let info = try file.info(key)
            let raw = try file.rawBytes(key)
            XCTAssertEqual(raw.count, info.byteRange.count, "iteration \(iteration), key \(key)")
            XCTAssertEqual(info.byteRange.count, info.elementCount * info.dtype.byteSize, "iteration \(iteration)")
            XCTAssertLessThanOrEqual(info.byteRange.upperBound, fileSize - 8, "iteration \(iteration)")
            XCTAssertEqual(try file.floats(key).count, info.elementCount, "iteration \(iteration), key \(key)")
            if info.dtype.isInteger {
                XCTAssertEqual(try file.int64s(key).count, info.elementCount, "iteration \(iteration), key \(key)")
            }
        }
        // Parsing is deterministic: reopening gives the same description.
        let again = try SafeTensorsFile(path: file.path)
        XCTAssertEqual(again.keys, file.keys)
        XCTAssertEqual(again.metadata, file.metadata)
        XCTAssertEqual(try again.keys.map { try again.info($0) }, try file.keys.map { try file.info($0) })
    }

    private static func caseName(_ error: SafeTensorsError) -> String {
        String(String(describing: Mirror(reflecting: error).children.first?.label ?? "\(error)").prefix(40))
    }

    // MARK: Writer atomicity

    func testWriteIntoMissingDirectoryThrowsAndLeavesNothing() throws {
        var writer = SafeTensorsWriter()
        try writer.add("w", shape: [1], floats: [1])
        let missingFolder = directory.appendingPathComponent("no/such/folder")
        let path = missingFolder.appendingPathComponent("out.safetensors").path
        XCTAssertThrowsError(try writer.write(to: path)) {
            guard case .writeFailed(path, _)? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
            XCTAssertTrue(String(describing: $0).contains(path))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missingFolder.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testWriteIntoNonWritableDirectoryThrows() throws {
        var writer = SafeTensorsWriter()
        try writer.add("w", shape: [1], floats: [1])
        // /proc refuses new files even for root.
        XCTAssertThrowsError(try writer.write(to: "/proc/sepme-safetensors-test.safetensors")) {
            guard case .writeFailed("/proc/sepme-safetensors-test.safetensors", _)? = $0 as? SafeTensorsError else {
                return XCTFail("\($0)")
            }
        }
        if geteuid() != 0 {
            let locked = directory.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path) }
            let path = locked.appendingPathComponent("out.safetensors").path
            XCTAssertThrowsError(try writer.write(to: path)) {
                guard case .writeFailed(path, _)? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: locked.path), [])
        }
    }

    /// When the final rename fails (destination is a folder), the temporary file is removed and the
    /// destination is untouched; a successful overwrite replaces the old file and leaves no temporary.
    func testFailedRenameCleansUpAndOverwriteReplaces() throws {
        var writer = SafeTensorsWriter()
        try writer.add("w", shape: [2], floats: [1, 2])
        let blocked = directory.appendingPathComponent("blocked.safetensors")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: false)
        try Data([42]).write(to: blocked.appendingPathComponent("keep"))
        XCTAssertThrowsError(try writer.write(to: blocked.path)) {
            guard case .writeFailed(blocked.path, let reason)? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("rename"), reason)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["blocked.safetensors"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: blocked.path), ["keep"])

        let target = directory.appendingPathComponent("model.safetensors").path
        try writer.write(to: target)
        var second = SafeTensorsWriter()
        try second.add("v", shape: [1], floats: [9])
        try second.write(to: target, metadata: ["version": "2"])
        let reread = try SafeTensorsFile(path: target)
        XCTAssertEqual(reread.keys, ["v"])
        XCTAssertEqual(try reread.floats("v"), [9])
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
            ["blocked.safetensors", "model.safetensors"])
    }
}
