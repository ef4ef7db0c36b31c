/// An 8-bit RGB image, row-major, 3 bytes per pixel.
public struct RGBImage: Equatable, Sendable {
    /// The most pixels an image read from a file or assembled into a contact sheet may have
    /// (2^27, e.g. 16384 x 8192; 384 MiB of RGB).
    public static let maximumPixelCount = 1 << 27

    /// Why a contact sheet cannot be assembled or cut.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// A column count, tile size or gap outside its allowed range.
        case invalidLayout(String)
        /// The sheet would have more pixels than `limit` (`RGBImage.maximumPixelCount`).
        case tooLarge(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case .invalidLayout(let reason): return "contact sheet: \(reason)"
            case let .tooLarge(w, h, limit):
                return "contact sheet of \(w)x\(h) pixels exceeds the limit of \(limit) pixels"
            }
        }
    }

    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(
            width >= 0 && height >= 0 && pixels.count == width * height * 3,
            "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)x\(height)")
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * 3 + channel] }
        set { pixels[(y * width + x) * 3 + channel] = newValue }
    }

    /// Places `images` side by side in rows of `columns` (a contact sheet), `gap` pixels apart; each tile
    /// has the first image's size (larger images are cropped). No images give a 0 x 0 sheet.
    /// Throws `.invalidLayout` for `columns` < 1 or `gap` < 0 and `.tooLarge` beyond `maximumPixelCount`.
    public static func grid(_ images: [RGBImage], columns: Int, gap: Int = 2, background: UInt8 = 255) throws -> RGBImage {
        guard columns >= 1 else { throw Error.invalidLayout("\(columns) columns (expected at least 1)") }
        guard gap >= 0 else { throw Error.invalidLayout("gap of \(gap) pixels (expected at least 0)") }
        guard let first = images.first else { return RGBImage(width: 0, height: 0) }
        let rows = (images.count - 1) / columns + 1
        guard let w = sheetSide(count: columns, tile: first.width, gap: gap),
            let h = sheetSide(count: rows, tile: first.height, gap: gap),
            case let (area, overflow) = w.multipliedReportingOverflow(by: h), !overflow, area <= maximumPixelCount
        else {
            let w = sheetSide(count: columns, tile: first.width, gap: gap) ?? Int.max
            let h = sheetSide(count: rows, tile: first.height, gap: gap) ?? Int.max
            throw Error.tooLarge(width: w, height: h, limit: maximumPixelCount)
        }
        var out = RGBImage(width: w, height: h, fill: background)
        for (i, img) in images.enumerated() {
            let ox = (i % columns) * (first.width + gap)
            let oy = (i / columns) * (first.height + gap)
            for y in 0..<min(img.height, first.height) {
                for x in 0..<min(img.width, first.width) {
                    for c in 0..<3 { out[ox + x, oy + y, c] = img[x, y, c] }
                }
            }
        }
        return out
    }

    /// count * tile + (count - 1) * gap, or nil on overflow.
    private static func sheetSide(count: Int, tile: Int, gap: Int) -> Int? {
        let (tiles, o1) = count.multipliedReportingOverflow(by: tile)
        let (gaps, o2) = (count - 1).multipliedReportingOverflow(by: gap)
        let (side, o3) = tiles.addingReportingOverflow(gaps)
        return o1 || o2 || o3 ? nil : side
    }

    /// The inverse of `grid`: the `tileWidth` x `tileHeight` pictures of a contact sheet whose tiles are
    /// `gap` pixels apart, row by row; nil unless the sizes are positive, the gap is not negative and the
    /// sheet's size is a whole number of tiles (arithmetic overflow counts as not whole).
    public func tiles(width tileWidth: Int, height tileHeight: Int, gap: Int) -> [RGBImage]? {
        guard tileWidth > 0, tileHeight > 0, gap >= 0 else { return nil }
        let (spanX, o1) = width.addingReportingOverflow(gap)
        let (stepX, o2) = tileWidth.addingReportingOverflow(gap)
        let (spanY, o3) = height.addingReportingOverflow(gap)
        let (stepY, o4) = tileHeight.addingReportingOverflow(gap)
        guard !(o1 || o2 || o3 || o4), spanX % stepX == 0, spanY % stepY == 0 else { return nil }
        let columns = spanX / stepX
        let rows = spanY / stepY
        var out: [RGBImage] = []
        out.reserveCapacity(columns * rows)
        for r in 0..<rows {
            for c in 0..<columns { out.append(crop(x: c * stepX, y: r * stepY, width: tileWidth, height: tileHeight)) }
        }
        return out
    }

    /// The `width` x `height` picture whose top-left pixel is (`x`, `y`); the caller keeps it inside
    /// the image (as `tiles` does, and `sepme classify` for one tile at a time).
    public func crop(x: Int, y: Int, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        var out = RGBImage(width: cropWidth, height: cropHeight)
        for row in 0..<cropHeight {
            let src = ((y + row) * width + x) * 3
            let dst = row * cropWidth * 3
            out.pixels[dst..<(dst + cropWidth * 3)] = pixels[src..<(src + cropWidth * 3)]
        }
        return out
    }
}
