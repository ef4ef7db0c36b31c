import CZlib

/// The image data of a PNG: zlib (de)compression, the per-row filters and the conversion of samples
/// to 8-bit RGB (RFC 2083 §6, §9).
enum PNGPixelData {
    /// Inflates, unfilters and converts `compressed` (the concatenated IDAT bodies) to RGB.
    static func decode(compressed: [UInt8], header: PNGHeader, palette: [UInt8], path: String) throws -> RGBImage {
        let expected = header.inflatedSize
        let raw = try inflate(compressed, limit: expected, path: path)
        guard raw.count == expected else {
            throw PNG.Error.corrupt(
                path: path,
                reason: "image data inflates to \(raw.count) bytes, "
                    + "expected \(header.height) rows of 1 + \(header.stride) bytes = \(expected)")
        }
        let unit = max(1, header.bitsPerPixel / 8)
        let filtered = try unfilter(raw, stride: header.stride, height: header.height, unit: unit, path: path)
        let samples = samples8(filtered, header: header)
        let count = header.width * header.height
        var pixels = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            var rgb: (Int, Int, Int)
            var alpha = 255
            switch header.colorType {
            case 0:
                let g = Int(samples[i])
                rgb = (g, g, g)
            case 4:
                let g = Int(samples[2 * i])
                rgb = (g, g, g)
                alpha = Int(samples[2 * i + 1])
            case 3:
                let index = Int(samples[i])
                guard index * 3 + 2 < palette.count else {
                    throw PNG.Error.corrupt(path: path, reason: "palette index \(index) out of range for \(palette.count / 3) entries")
                }
                rgb = (Int(palette[index * 3]), Int(palette[index * 3 + 1]), Int(palette[index * 3 + 2]))
            case 2: rgb = (Int(samples[3 * i]), Int(samples[3 * i + 1]), Int(samples[3 * i + 2]))
            default:
                rgb = (Int(samples[4 * i]), Int(samples[4 * i + 1]), Int(samples[4 * i + 2]))
                alpha = Int(samples[4 * i + 3])
            }
            // Alpha composited over white, rounded to nearest.
            func over(_ c: Int) -> UInt8 { UInt8((c * alpha + 255 * (255 - alpha) + 127) / 255) }
            pixels[3 * i] = over(rgb.0)
            pixels[3 * i + 1] = over(rgb.1)
            pixels[3 * i + 2] = over(rgb.2)
        }
        return RGBImage(width: header.width, height: header.height, pixels: pixels)
    }

    /// One byte per sample: sub-byte samples unpacked (grey scaled to 0...255, palette indices kept),
    /// 16-bit samples reduced to their high byte.
    static func samples8(_ rows: [UInt8], header: PNGHeader) -> [UInt8] {
        let depth = header.depth
        let stride = header.stride
        let perRow = header.width * header.channels
        if depth == 8 { return rows }
        let scale = header.colorType != 3
        var out = [UInt8](repeating: 0, count: perRow * header.height)
        for y in 0..<header.height {
            let row = y * stride
            for i in 0..<perRow {
                if depth == 16 {
                    out[y * perRow + i] = rows[row + 2 * i]
                    continue
                }
                let bit = i * depth
                let v = (Int(rows[row + bit / 8]) >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
                out[y * perRow + i] = UInt8(scale ? v * 255 / ((1 << depth) - 1) : v)
            }
        }
        return out
    }

    /// Reverses the per-row filters (None, Sub, Up, Average, Paeth); `unit` is bytes per pixel (>= 1).
    // raw: height rows of (1 filter byte + stride bytes) -> height rows of stride bytes
    static func unfilter(_ raw: [UInt8], stride: Int, height: Int, unit: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            guard filter <= 4 else { throw PNG.Error.corrupt(path: path, reason: "row \(y) has filter type \(filter) (expected 0...4)") }
            let src = y * (stride + 1) + 1
            for x in 0..<stride {
                let a = x >= unit ? Int(out[y * stride + x - unit]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
                let c = (x >= unit && y > 0) ? Int(out[(y - 1) * stride + x - unit]) : 0
                let pred: Int
                switch filter {
                case 0: pred = 0
                case 1: pred = a
                case 2: pred = b
                case 3: pred = (a + b) / 2
                default:
                    let p = a + b - c
                    let pa = abs(p - a)
                    let pb = abs(p - b)
                    let pc = abs(p - c)
                    pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                }
                out[y * stride + x] = UInt8((Int(raw[src + x]) + pred) & 0xFF)
            }
        }
        return out
    }

    /// zlib-compresses `data` (level 6); nil when zlib fails (out of memory).
    static func deflate(_ data: [UInt8]) -> [UInt8]? {
        var destLen = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(destLen))
        let status = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &destLen, src.baseAddress, uLong(data.count), 6)
            }
        }
        guard status == Z_OK else { return nil }
        return Array(out[0..<Int(destLen)])
    }

    /// Inflates a zlib stream in pieces, so memory grows only with output that really exists, and stops
    /// with `.corrupt` as soon as the output would exceed `limit` bytes (a zlib bomb).
    static func inflate(_ data: [UInt8], limit: Int, path: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw PNG.Error.corrupt(path: path, reason: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        let piece = 1 << 16
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: piece)
        var status: Int32 = Z_OK
        try data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while status != Z_STREAM_END {
                status = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = piece - Int(stream.avail_out)
                guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && produced > 0) else {
                    let reason =
                        status == Z_BUF_ERROR
                        ? "image data ends before its zlib stream does"
                        : "image data is not a valid zlib stream (zlib status \(status))"
                    throw PNG.Error.corrupt(path: path, reason: reason)
                }
                guard out.count + produced <= limit else {
                    throw PNG.Error.corrupt(path: path, reason: "image data inflates to more than the \(limit) bytes its header implies")
                }
                out.append(contentsOf: chunk[0..<produced])
            }
        }
        return out
    }
}
