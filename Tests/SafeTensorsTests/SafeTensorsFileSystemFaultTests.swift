import Foundation
import XCTest
@testable import SafeTensors
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Weights files that are not what they seem on disk (issue 12): a FIFO must be refused by name, not
/// block in `open`; a file truncated after it was opened must throw when its values are read, not
/// end in SIGBUS.
final class SafeTensorsFileSystemFaultTests: XCTestCase {
    func testFIFOIsRefusedWithoutBlocking() throws {
        let dir = try SafeTensorsTestHelpers.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("weights.safetensors").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertThrowsError(try SafeTensorsFile(path: path)) { e in
            XCTAssertEqual(e as? SafeTensorsError, .unreadableFile(path: path, reason: "not a regular file"))
        }
        XCTAssertThrowsError(try SafeTensorsFile(path: dir.path)) { e in
            XCTAssertEqual(e as? SafeTensorsError, .unreadableFile(path: dir.path, reason: "not a regular file"))
        }
    }

    func testTruncationAfterOpeningThrowsNamingTheKey() throws {
        let dir = try SafeTensorsTestHelpers.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        let values = (0..<4096).map { Float($0) }
        let halves = (0..<4096).map { HalfPrecision.halfBits(from: Float($0 % 100)) }
        let header = #"{"a":{"dtype":"F32","shape":[4096],"data_offsets":[0,16384]},"h":{"dtype":"F16","shape":[4096],"data_offsets":[16384,24576]}}"#
        var data: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        for h in halves { withUnsafeBytes(of: h.littleEndian) { data.append(contentsOf: $0) } }
        try Data(SafeTensorsTestHelpers.fileBytes(header: header, data: data)).write(to: URL(fileURLWithPath: path))
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(try file.floats("a"), values)
        XCTAssertEqual(truncate(path, 100), 0)
        for key in ["a", "h"] {
            XCTAssertThrowsError(try file.floats(key)) { e in
                guard case .unreadableFile(path, let reason)? = e as? SafeTensorsError else { return XCTFail("\(e)") }
                XCTAssertTrue(reason.contains("'\(key)'") && reason.contains("ended early"), reason)
            }
        }
    }
}
