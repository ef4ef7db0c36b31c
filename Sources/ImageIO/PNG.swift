import CZlib
import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// PNG encoding and decoding of 8-bit images (RFC 2083), compressed with the system zlib.
/// Decoding covers non-interlaced grey, grey+alpha, RGB, RGBA and palette images at every bit depth
/// (16-bit samples keep their high byte); alpha is composited over white.
///
/// Decoding never traps on a hostile file: every chunk length and CRC is checked, the declared size is
/// bounded by `RGBImage.maximumPixelCount` before anything is allocated, and the image data is inflated
/// in pieces and stopped at the size the header implies (a zlib bomb ends in `.corrupt`).
public enum PNG {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notPNG(path: String)
        case unsupported(path: String, reason: String)
        case corrupt(path: String, reason: String)
        /// The header declares more pixels than `limit` (`RGBImage.maximumPixelCount`).
        case tooLarge(path: String, width: Int, height: Int, limit: Int)
        /// The file cannot be opened or read, is not a regular file, or is larger than `PNG.maximumFileSize`.
        case unreadable(path: String, reason: String)
        /// The image cannot be stored as a PNG (e.g. it has no pixels).
        case unencodable(width: Int, height: Int, reason: String)

        public var description: String {
            switch self {
            case .notPNG(let p): return "\(p): not a PNG file (bad signature)"
            case .unsupported(let p, let r): return "\(p): unsupported PNG: \(r)"
            case .corrupt(let p, let r): return "\(p): corrupt PNG: \(r)"
            case let .tooLarge(p, w, h, limit):
                return "\(p): PNG of \(w)x\(h) = \(w * h) pixels exceeds the limit of \(limit) pixels"
            case .unreadable(let p, let r): return "\(p): cannot read: \(r)"
            case let .unencodable(w, h, r): return "cannot encode a \(w)x\(h) image as PNG: \(r)"
            }
        }
    }

    /// The largest file `read(path:)` loads (1 GiB).
    public static let maximumFileSize = 1 << 30

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `image` (filter 0 on every row, zlib level 6).
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        guard image.width >= 1, image.height >= 1, image.width <= Int(Int32.max), image.height <= Int(Int32.max) else {
            throw Error.unencodable(width: image.width, height: image.height, reason: "width and height must be 1...\(Int32.max)")
        }
        var raw = [UInt8]()
        raw.reserveCapacity(image.height * (image.width * 3 + 1))
        for y in 0..<image.height {
            raw.append(0)
            raw.append(contentsOf: image.pixels[(y * image.width * 3)..<((y + 1) * image.width * 3)])
        }
        var out = signature
        var ihdr = [UInt8]()
        ihdr.appendBigEndian(UInt32(image.width))
        ihdr.appendBigEndian(UInt32(image.height))
        ihdr.append(contentsOf: [8, 2, 0, 0, 0])  // 8-bit, truecolour, deflate, filter 0, no interlace
        appendChunk(&out, "IHDR", ihdr)
        guard let compressed = PNGPixelData.deflate(raw) else {
            throw Error.unencodable(width: image.width, height: image.height, reason: "zlib could not compress the pixels")
        }
        appendChunk(&out, "IDAT", compressed)
        appendChunk(&out, "IEND", [])
        return out
    }

    /// Writes `image` to `path` atomically (`AtomicFile`: temporary file, fsync, rename).
    public static func write(_ image: RGBImage, to path: String) throws {
        try AtomicFile.write(try encode(image), to: path)
    }

    /// Reads and decodes the PNG at `path`. Only regular files of at most `maximumFileSize` bytes are read
    /// (a FIFO or device is refused without blocking).
    public static func read(path: String) throws -> RGBImage {
        try decode(readFile(path), path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> RGBImage {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw Error.notPNG(path: path) }
        var header: PNGHeader?
        var palette: [UInt8]?
        var idat: [UInt8] = []
        var sawEnd = false
        var pos = 8
        while !sawEnd {
            guard pos + 12 <= bytes.count else {
                throw Error.corrupt(path: path, reason: "file ends at byte \(bytes.count) before the IEND chunk")
            }
            let length = Int(bytes.readBigEndianUInt32(at: pos))
            let typeBytes = Array(bytes[(pos + 4)..<(pos + 8)])
            guard typeBytes.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else {
                let hex = typeBytes.map { String($0, radix: 16) }.joined(separator: " ")
                throw Error.corrupt(path: path, reason: "chunk at byte \(pos) has an invalid type (bytes \(hex))")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= Int(Int32.max), pos + 12 + length <= bytes.count else {
                throw Error.corrupt(
                    path: path,
                    reason: "chunk \(type) at byte \(pos) declares \(length) bytes, "
                        + "but only \(bytes.count - pos - 12) remain")
            }
            let body = Array(bytes[(pos + 8)..<(pos + 8 + length)])
            let stored = bytes.readBigEndianUInt32(at: pos + 8 + length)
            let computed = bytes[(pos + 4)..<(pos + 8 + length)].withContiguousStorageIfAvailable {
                UInt32(crc32(0, $0.baseAddress, uInt($0.count)))
            }
            guard computed == stored else {
                throw Error.corrupt(path: path, reason: "chunk \(type) at byte \(pos) fails its CRC check")
            }
            if header == nil, type != "IHDR" {
                throw Error.corrupt(path: path, reason: "first chunk is \(type), expected IHDR")
            }
            switch type {
            case "IHDR":
                guard header == nil else { throw Error.corrupt(path: path, reason: "second IHDR chunk at byte \(pos)") }
                header = try PNGHeader(body, path: path)
            case "PLTE":
                guard length % 3 == 0, (3...768).contains(length) else {
                    throw Error.corrupt(path: path, reason: "PLTE length \(length) is not 3 to 768 bytes in whole entries")
                }
                palette = body
            case "IDAT": idat.append(contentsOf: body)
            case "IEND": sawEnd = true
            default: break
            }
            pos += 12 + length
        }
        guard let header else { throw Error.corrupt(path: path, reason: "no IHDR chunk") }
        guard !idat.isEmpty else { throw Error.corrupt(path: path, reason: "no IDAT chunk") }
        if header.colorType == 3, palette == nil {
            throw Error.corrupt(path: path, reason: "palette image without a PLTE chunk")
        }
        return try PNGPixelData.decode(compressed: idat, header: header, palette: palette ?? [], path: path)
    }

    /// The bytes of the regular file at `path`, opened without blocking.
    static func readFile(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw Error.unreadable(path: path, reason: AtomicFile.errnoText()) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Error.unreadable(path: path, reason: AtomicFile.errnoText()) }
        guard (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) else { throw Error.unreadable(path: path, reason: "not a regular file") }
        let size = Int(status.st_size)
        guard size <= maximumFileSize else {
            throw Error.unreadable(path: path, reason: "file of \(size) bytes exceeds the limit of \(maximumFileSize) bytes")
        }
        var failure: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = 0
            guard let base = buffer.baseAddress else { return }
            while initialized < size {
                let got = systemRead(descriptor, base + initialized, size - initialized)
                if got < 0, errno == EINTR { continue }
                if got < 0 {
                    failure = AtomicFile.errnoText()
                    return
                }
                if got == 0 { return }  // the file shrank: decode reports the truncation
                initialized += got
            }
        }
        if let failure { throw Error.unreadable(path: path, reason: failure) }
        return bytes
    }

    static func appendChunk(_ out: inout [UInt8], _ type: String, _ body: [UInt8]) {
        out.appendBigEndian(UInt32(body.count))
        let typed = Array(type.utf8) + body
        out.append(contentsOf: typed)
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        out.appendBigEndian(crc)
    }

}

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.read(descriptor, buffer, count)
    #else
        return Darwin.read(descriptor, buffer, count)
    #endif
}

/// The IHDR chunk, validated: a supported colour type and bit depth, a size within
/// `RGBImage.maximumPixelCount`.
struct PNGHeader {
    let width: Int, height: Int, depth: Int, colorType: Int

    init(_ body: [UInt8], path: String) throws {
        guard body.count == 13 else { throw PNG.Error.corrupt(path: path, reason: "IHDR length \(body.count), expected 13") }
        width = Int(body.readBigEndianUInt32(at: 0))
        height = Int(body.readBigEndianUInt32(at: 4))
        depth = Int(body[8])
        colorType = Int(body[9])
        guard (1...Int(Int32.max)).contains(width), (1...Int(Int32.max)).contains(height) else {
            throw PNG.Error.corrupt(path: path, reason: "image size \(width)x\(height) (each side must be 1...\(Int32.max))")
        }
        let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let depths = allowed[colorType] else {
            throw PNG.Error.corrupt(path: path, reason: "colour type \(colorType) (expected 0, 2, 3, 4 or 6)")
        }
        guard depths.contains(depth) else {
            throw PNG.Error.corrupt(path: path, reason: "bit depth \(depth) with colour type \(colorType) (expected one of \(depths))")
        }
        guard body[10] == 0 else { throw PNG.Error.corrupt(path: path, reason: "compression method \(body[10]) (expected 0)") }
        guard body[11] == 0 else { throw PNG.Error.corrupt(path: path, reason: "filter method \(body[11]) (expected 0)") }
        guard body[12] == 0 else {
            throw body[12] == 1
                ? PNG.Error.unsupported(path: path, reason: "interlaced images")
                : PNG.Error.corrupt(path: path, reason: "interlace method \(body[12]) (expected 0 or 1)")
        }
        guard width * height <= RGBImage.maximumPixelCount else {
            throw PNG.Error.tooLarge(path: path, width: width, height: height, limit: RGBImage.maximumPixelCount)
        }
    }

    /// Samples per pixel.
    var channels: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 1 }
    var bitsPerPixel: Int { depth * channels }
    /// Bytes per row before the filter byte.
    var stride: Int { (width * bitsPerPixel + 7) / 8 }
    /// The inflated image data's size: each row is one filter byte and `stride` bytes.
    var inflatedSize: Int { height * (stride + 1) }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24))
        append(UInt8((v >> 16) & 0xFF))
        append(UInt8((v >> 8) & 0xFF))
        append(UInt8(v & 0xFF))
    }

    func readBigEndianUInt32(at i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}
