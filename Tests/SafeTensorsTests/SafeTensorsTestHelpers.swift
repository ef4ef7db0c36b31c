import Foundation
import TensorEngine
import XCTest
@testable import SafeTensors

/// Shared helpers: a per-test temporary folder, fixture lookup and hand-assembled files.
enum SafeTensorsTestHelpers {
    /// A fresh empty folder under the system temporary directory.
    static func makeTemporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("SafeTensorsTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Path of a committed fixture in Tests/SafeTensorsTests/Resources.
    static func fixturePath(_ name: String) throws -> String {
        let folder = try XCTUnwrap(
            Bundle.module.url(forResource: "Resources", withExtension: nil),
            "Resources folder missing from the test bundle")
        let url = folder.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SafeTensorsError.fileNotFound(path: url.path + " (run scripts/make_safetensors_fixtures.py)")
        }
        return url.path
    }

    /// File bytes: 8-byte little-endian `lengthPrefix` (default: the header's byte count), header, data.
    static func fileBytes(header: String, data: [UInt8], lengthPrefix: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (lengthPrefix ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes + headerBytes + data
    }

    /// Overwrites in place and then sets the size: truncating to zero first would make ext4 flush the file
    /// on close (its replace-via-truncate heuristic), which makes the 5000-file fuzz test very slow.
    static func write(_ bytes: [UInt8], to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count, ftruncate(descriptor, off_t(bytes.count)) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }
    }
}
