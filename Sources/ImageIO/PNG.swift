import CZlib
import Foundation

/// PNG encoding and decoding of 8-bit images (RFC 2083), compressed with the system zlib.
/// Decoding covers non-interlaced grey, grey+alpha, RGB, RGBA and palette images at every bit depth
/// (16-bit samples keep their high byte); alpha is composited over white.
public enum PNG {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notPNG(path: String)
        case unsupported(path: String, reason: String)
        case corrupt(path: String, reason: String)
        case writeFailed(path: String, reason: String)

        public var description: String {
            switch self {
            case .notPNG(let p): return "\(p): not a PNG file (bad signature)"
            case .unsupported(let p, let r): return "\(p): unsupported PNG: \(r)"
            case .corrupt(let p, let r): return "\(p): corrupt PNG: \(r)"
            case .writeFailed(let p, let r): return "\(p): cannot write PNG: \(r)"
            }
        }
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `image` (filter 0 on every row, zlib level 6).
    public static func encode(_ image: RGBImage) -> [UInt8] {
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
        appendChunk(&out, "IDAT", deflate(raw))
        appendChunk(&out, "IEND", [])
        return out
    }

    /// Writes `image` to `path` atomically (temporary file + rename).
    public static func write(_ image: RGBImage, to path: String) throws {
        try AtomicFile.write(Data(encode(image)), to: path)
    }

    public static func read(path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error.corrupt(path: path, reason: "cannot read the file")
        }
        return try decode([UInt8](data), path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> RGBImage {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw Error.notPNG(path: path) }
        var pos = 8
        var width = 0, height = 0, colorType = 0, depth = 8
        var palette: [UInt8] = []
        var idat: [UInt8] = []
        var sawHeader = false
        while pos + 8 <= bytes.count {
            let length = Int(bytes.readBigEndianUInt32(at: pos))
            let type = String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self)
            guard length >= 0, pos + 12 + length <= bytes.count else {
                throw Error.corrupt(path: path, reason: "chunk \(type) runs past the end of the file")
            }
            let body = Array(bytes[(pos + 8)..<(pos + 8 + length)])
            switch type {
            case "IHDR":
                guard length == 13 else { throw Error.corrupt(path: path, reason: "IHDR length \(length)") }
                width = Int(body.readBigEndianUInt32(at: 0))
                height = Int(body.readBigEndianUInt32(at: 4))
                depth = Int(body[8])
                colorType = Int(body[9])
                let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard allowed[colorType]?.contains(depth) ?? true else {
                    throw Error.unsupported(path: path, reason: "bit depth \(depth) with colour type \(colorType)")
                }
                guard body[12] == 0 else { throw Error.unsupported(path: path, reason: "interlaced images") }
                guard [0, 2, 3, 4, 6].contains(colorType) else {
                    throw Error.unsupported(path: path, reason: "colour type \(colorType)")
                }
                guard width > 0, height > 0, width <= 16384, height <= 16384 else {
                    throw Error.corrupt(path: path, reason: "image size \(width)x\(height)")
                }
                sawHeader = true
            case "PLTE": palette = body
            case "IDAT": idat.append(contentsOf: body)
            case "IEND": pos = bytes.count
            default: break
            }
            pos += 12 + length
        }
        guard sawHeader else { throw Error.corrupt(path: path, reason: "no IHDR chunk") }
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType]!
        let bitsPerPixel = depth * channels
        let stride = (width * bitsPerPixel + 7) / 8
        guard let raw = inflate(idat, expected: height * (stride + 1)), raw.count == height * (stride + 1) else {
            throw Error.corrupt(path: path, reason: "image data does not decompress to \(height) rows of \(stride) bytes")
        }
        let filtered = try unfilter(raw, stride: stride, height: height, unit: max(1, bitsPerPixel / 8), path: path)
        let rows = samples8(filtered, width: width, height: height, channels: channels, depth: depth, stride: stride,
                            scale: colorType != 3)
        var image = RGBImage(width: width, height: height)
        for i in 0..<(width * height) {
            var rgb: (Int, Int, Int), alpha = 255
            switch colorType {
            case 0: let g = Int(rows[i]); rgb = (g, g, g)
            case 4: let g = Int(rows[2 * i]); rgb = (g, g, g); alpha = Int(rows[2 * i + 1])
            case 3:
                let idx = Int(rows[i])
                guard idx * 3 + 2 < palette.count else { throw Error.corrupt(path: path, reason: "palette index \(idx) out of range") }
                rgb = (Int(palette[idx * 3]), Int(palette[idx * 3 + 1]), Int(palette[idx * 3 + 2]))
            case 2: rgb = (Int(rows[3 * i]), Int(rows[3 * i + 1]), Int(rows[3 * i + 2]))
            default:
                rgb = (Int(rows[4 * i]), Int(rows[4 * i + 1]), Int(rows[4 * i + 2])); alpha = Int(rows[4 * i + 3])
            }
            func over(_ c: Int) -> UInt8 { UInt8((c * alpha + 255 * (255 - alpha) + 127) / 255) }
            image.pixels[3 * i] = over(rgb.0)
            image.pixels[3 * i + 1] = over(rgb.1)
            image.pixels[3 * i + 2] = over(rgb.2)
        }
        return image
    }

    /// One byte per sample: sub-byte samples unpacked (grey scaled to 0...255, palette indices kept),
    /// 16-bit samples reduced to their high byte.
    static func samples8(_ rows: [UInt8], width: Int, height: Int, channels: Int, depth: Int, stride: Int, scale: Bool) -> [UInt8] {
        if depth == 8 { return rows }
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            let row = y * stride
            for i in 0..<(width * channels) {
                if depth == 16 { out[y * width * channels + i] = rows[row + 2 * i]; continue }
                let bit = i * depth
                let v = (Int(rows[row + bit / 8]) >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
                out[y * width * channels + i] = UInt8(scale ? v * 255 / ((1 << depth) - 1) : v)
            }
        }
        return out
    }

    /// Reverses the per-row filters (None, Sub, Up, Average, Paeth); `unit` is bytes per pixel (>= 1).
    static func unfilter(_ raw: [UInt8], stride: Int, height: Int, unit channels: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1
            for x in 0..<stride {
                let a = x >= channels ? Int(out[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
                let c = (x >= channels && y > 0) ? Int(out[(y - 1) * stride + x - channels]) : 0
                let v = Int(raw[src + x])
                let pred: Int
                switch filter {
                case 0: pred = 0
                case 1: pred = a
                case 2: pred = b
                case 3: pred = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                default: throw Error.corrupt(path: path, reason: "row \(y) has filter type \(filter)")
                }
                out[y * stride + x] = UInt8((v + pred) & 0xFF)
            }
        }
        return out
    }

    static func appendChunk(_ out: inout [UInt8], _ type: String, _ body: [UInt8]) {
        out.appendBigEndian(UInt32(body.count))
        let typed = Array(type.utf8) + body
        out.append(contentsOf: typed)
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        out.appendBigEndian(crc)
    }

    static func deflate(_ data: [UInt8]) -> [UInt8] {
        var destLen = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(destLen))
        let status = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &destLen, src.baseAddress, uLong(data.count), 6)
            }
        }
        precondition(status == Z_OK, "zlib compress2 failed with \(status)")
        return Array(out[0..<Int(destLen)])
    }

    static func inflate(_ data: [UInt8], expected: Int) -> [UInt8]? {
        var destLen = uLong(expected)
        var out = [UInt8](repeating: 0, count: max(expected, 1))
        let status = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                uncompress(dst.baseAddress, &destLen, src.baseAddress, uLong(data.count))
            }
        }
        guard status == Z_OK else { return nil }
        return Array(out[0..<Int(destLen)])
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8((v >> 16) & 0xFF)); append(UInt8((v >> 8) & 0xFF)); append(UInt8(v & 0xFF))
    }

    func readBigEndianUInt32(at i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}
