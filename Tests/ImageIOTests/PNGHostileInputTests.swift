import CZlib
import Foundation
import ImageIO
import XCTest

/// Hostile PNG files: each ends in a typed `PNG.Error` naming the file and what was wrong, before any
/// allocation the file's own size does not justify.
final class PNGHostileInputTests: XCTestCase {
    /// A PNG with the given IHDR fields and IDAT body (valid CRCs).
    static func png(
        width: UInt32, height: UInt32, depth: UInt8 = 8, colorType: UInt8 = 2, interlace: UInt8 = 0,
        idat: [UInt8], extra: [(String, [UInt8])] = []
    ) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr: [UInt8] = []
        for v in [width, height] { ihdr += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        ihdr += [depth, colorType, 0, 0, interlace]
        chunk(&out, "IHDR", ihdr)
        for (type, body) in extra { chunk(&out, type, body) }
        chunk(&out, "IDAT", idat)
        chunk(&out, "IEND", [])
        return out
    }

    static func chunk(_ out: inout [UInt8], _ type: String, _ body: [UInt8]) {
        let n = UInt32(body.count)
        out += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
        let typed = Array(type.utf8) + body
        out += typed
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        out += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
    }

    static func zlib(_ data: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&out, &length, data, uLong(data.count), 9)
        XCTAssertEqual(status, Z_OK)
        return Array(out[0..<Int(length)])
    }

    func assertCorrupt(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PNG.decode(bytes, path: "hostile.png"), file: file, line: line) { error in
            guard case .corrupt("hostile.png", let reason)? = error as? PNG.Error else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertTrue(reason.contains(fragment), "\(reason)", file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix("hostile.png: corrupt PNG: "), "\(error)", file: file, line: line)
        }
    }

    func testHugeDeclaredSizeIsRefusedWithTheLimit() {
        for (w, h) in [(UInt32(Int32.max), UInt32(Int32.max)), (100_000, 100_000), (1 << 14, (1 << 13) + 1)] {
            let bytes = Self.png(width: w, height: h, idat: Self.zlib([0, 1, 2]))
            XCTAssertThrowsError(try PNG.decode(bytes, path: "huge.png")) { error in
                XCTAssertEqual(
                    error as? PNG.Error,
                    .tooLarge(path: "huge.png", width: Int(w), height: Int(h), limit: RGBImage.maximumPixelCount))
                XCTAssertTrue("\(error)".contains("exceeds the limit of \(RGBImage.maximumPixelCount) pixels"), "\(error)")
            }
        }
        assertCorrupt(Self.png(width: UInt32.max, height: 1, idat: []), "each side must be")
        assertCorrupt(Self.png(width: 0, height: 5, idat: []), "image size 0x5")
    }

    /// A few hundred bytes that inflate to 64 MiB: stopped at the size the 16 x 16 header implies.
    func testZlibBombIsStoppedAtTheHeaderSize() {
        let bomb = Self.zlib([UInt8](repeating: 0, count: 64 << 20))
        XCTAssertLessThan(bomb.count, 100_000)
        assertCorrupt(Self.png(width: 16, height: 16, idat: bomb), "more than the \(16 * (16 * 3 + 1)) bytes its header implies")
    }

    func testShortOrInvalidImageData() {
        let rows = [UInt8](repeating: 0, count: 4 * (4 * 3 + 1))
        assertCorrupt(Self.png(width: 4, height: 4, idat: Self.zlib(Array(rows.dropLast(5)))), "inflates to 47 bytes")
        assertCorrupt(Self.png(width: 4, height: 4, idat: Array(Self.zlib(rows).dropLast(6))), "ends before its zlib stream")
        assertCorrupt(Self.png(width: 4, height: 4, idat: [1, 2, 3, 4, 5]), "not a valid zlib stream")
        var badFilter = rows
        badFilter[13] = 9
        assertCorrupt(Self.png(width: 4, height: 4, idat: Self.zlib(badFilter)), "row 1 has filter type 9")
        assertCorrupt(Self.png(width: 4, height: 4, colorType: 3, idat: Self.zlib(rows)), "without a PLTE chunk")
        let indices = [UInt8](repeating: 0, count: 2) + [0, 5]
        assertCorrupt(
            Self.png(width: 1, height: 2, colorType: 3, idat: Self.zlib(indices), extra: [("PLTE", [1, 2, 3, 4, 5, 6])]),
            "palette index 5 out of range for 2 entries")
    }

    func testBadChunksAndTruncation() throws {
        let good = try PNG.encode(RGBImage(width: 3, height: 2, fill: 50))
        XCTAssertEqual(try PNG.decode(good), RGBImage(width: 3, height: 2, fill: 50))
        for cut in [9, 20, 33, good.count - 12, good.count - 1] {
            XCTAssertThrowsError(try PNG.decode(Array(good.prefix(cut)), path: "cut.png")) { error in
                guard case .corrupt("cut.png", _)? = error as? PNG.Error else { return XCTFail("cut \(cut): \(error)") }
            }
        }
        var longChunk = good
        longChunk[8...11] = [0x7F, 0xFF, 0xFF, 0xF0]
        assertCorrupt(longChunk, "chunk IHDR at byte 8 declares 2147483632 bytes")
        var hugeLength = good
        hugeLength[8...11] = [0xFF, 0xFF, 0xFF, 0xFF]
        assertCorrupt(hugeLength, "declares 4294967295 bytes")
        var badCRC = good
        badCRC[29] ^= 0x01
        assertCorrupt(badCRC, "chunk IHDR at byte 8 fails its CRC check")
        var badType = good
        badType[12] = 0x1B  // ESC: never echoed to a terminal
        assertCorrupt(badType, "invalid type (bytes 1b 48 44 52)")
        assertCorrupt(Self.png(width: 2, height: 2, interlace: 7, idat: []), "interlace method 7")
        XCTAssertThrowsError(try PNG.decode(Self.png(width: 2, height: 2, interlace: 1, idat: []), path: "i.png")) { error in
            XCTAssertEqual(error as? PNG.Error, .unsupported(path: "i.png", reason: "interlaced images"))
        }
        assertCorrupt(Self.png(width: 2, height: 2, depth: 3, idat: []), "bit depth 3 with colour type 2")
        assertCorrupt(Self.png(width: 2, height: 2, colorType: 5, idat: []), "colour type 5")
    }

    /// Files that are not regular files or cannot be opened: a typed error, and a FIFO does not block.
    func testReadRefusesFIFOsFoldersAndMissingFiles() throws {
        let folder = NSTemporaryDirectory() + "sepme-png-read-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/pipe.png"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        for (path, reason) in [
            (fifo, "not a regular file"), (folder, "not a regular file"),
            (folder + "/missing.png", "No such file or directory")
        ] {
            XCTAssertThrowsError(try PNG.read(path: path)) { error in
                XCTAssertEqual(error as? PNG.Error, .unreadable(path: path, reason: reason))
            }
        }
    }
}
