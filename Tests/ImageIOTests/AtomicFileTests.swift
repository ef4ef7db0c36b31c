import FileOutput
import Foundation
import XCTest

/// The one atomic writer (FileOutput), shared by PNG, reports and safetensors files.
final class AtomicFileTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "sepme-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }

    func testWritesReplacesAndLeavesNoTemporary() throws {
        let path = folder + "/out.txt"
        try AtomicFile.write("first\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first\n")
        try AtomicFile.write(Data([1, 2, 3]), to: path)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), [1, 2, 3])
        try AtomicFile.write(to: path) { sink in
            try sink.write([9, 8])
            try sink.write(Data([7]))
            try [UInt8](repeating: 6, count: 1 << 20).withUnsafeBytes { try sink.write($0) }
        }
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(written.prefix(4)), [9, 8, 7, 6])
        XCTAssertEqual(written.count, 3 + (1 << 20))
        XCTAssertEqual(try entries(), ["out.txt"])
        // A bare file name goes to the current folder.
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try AtomicFile.write("here", to: "bare.txt")
        XCTAssertEqual(try entries(), ["bare.txt", "out.txt"])
    }

    func testFailuresAreTypedNameThePathAndErrnoAndCleanUp() throws {
        let missing = folder + "/no/such/x.txt"
        XCTAssertThrowsError(try AtomicFile.write("x", to: missing)) { error in
            guard let error = error as? AtomicFile.WriteError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.path, missing)
            XCTAssertEqual(error.step, .createTemporary)
            XCTAssertEqual(
                "\(error)",
                "\(missing): cannot write: create a temporary file failed: "
                    + "in folder '\(folder)/no/such': No such file or directory")
        }
        // The destination is a folder: the rename fails, the folder and its contents are untouched.
        let blocked = folder + "/blocked"
        try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: false)
        try Data([1]).write(to: URL(fileURLWithPath: blocked + "/keep"))
        XCTAssertThrowsError(try AtomicFile.write("x", to: blocked)) { error in
            XCTAssertEqual((error as? AtomicFile.WriteError)?.step, .rename, "\(error)")
            XCTAssertTrue((error as? AtomicFile.WriteError)?.reason.hasPrefix("rename failed: ") ?? false, "\(error)")
        }
        XCTAssertEqual(try entries(), ["blocked"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: blocked), ["keep"])
        // A producer that fails: its error is wrapped, the temporary removed, an existing file kept.
        struct Refused: Error, CustomStringConvertible { var description: String { "refused" } }
        let path = folder + "/kept.txt"
        try AtomicFile.write("old", to: path)
        XCTAssertThrowsError(
            try AtomicFile.write(to: path) { sink in
                try sink.write([1, 2, 3])
                throw Refused()
            }
        ) { error in
            XCTAssertEqual(error as? AtomicFile.WriteError, AtomicFile.WriteError(path: path, step: .produceContents, detail: "refused"))
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old")
        XCTAssertEqual(try entries(), ["blocked", "kept.txt"])
        for bad in ["", folder + "/", folder + "/..", "."] {
            XCTAssertThrowsError(try AtomicFile.write("x", to: bad)) { error in
                XCTAssertEqual((error as? AtomicFile.WriteError)?.step, .validatePath, "\(bad): \(error)")
            }
        }
    }

    /// A folder that refuses new files (/proc, even for root): a typed error with the system's text.
    func testUnwritableFolderIsATypedError() throws {
        XCTAssertThrowsError(try AtomicFile.write([UInt8](repeating: 1, count: 1 << 16), to: "/proc/sepme-atomic-test")) { error in
            guard let error = error as? AtomicFile.WriteError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.path, "/proc/sepme-atomic-test")
            XCTAssertEqual(error.step, .createTemporary)
            XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain"), "\(error)")
        }
    }
}
