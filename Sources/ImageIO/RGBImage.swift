/// An 8-bit RGB image, row-major, 3 bytes per pixel.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * 3 + channel] }
        set { pixels[(y * width + x) * 3 + channel] = newValue }
    }

    /// Places `images` side by side in rows of `columns` (a contact sheet), `gap` pixels apart.
    public static func grid(_ images: [RGBImage], columns: Int, gap: Int = 2, background: UInt8 = 255) -> RGBImage {
        guard let first = images.first else { return RGBImage(width: 0, height: 0) }
        let rows = (images.count + columns - 1) / columns
        let w = columns * first.width + (columns - 1) * gap
        let h = rows * first.height + (rows - 1) * gap
        var out = RGBImage(width: w, height: h, fill: background)
        for (i, img) in images.enumerated() {
            let ox = (i % columns) * (first.width + gap), oy = (i / columns) * (first.height + gap)
            for y in 0..<min(img.height, first.height) {
                for x in 0..<min(img.width, first.width) {
                    for c in 0..<3 { out[ox + x, oy + y, c] = img[x, y, c] }
                }
            }
        }
        return out
    }

    /// The inverse of `grid`: the `tileWidth` x `tileHeight` pictures of a contact sheet whose tiles are
    /// `gap` pixels apart, row by row; nil unless the sheet's size is a whole number of tiles.
    public func tiles(width tileWidth: Int, height tileHeight: Int, gap: Int) -> [RGBImage]? {
        guard tileWidth > 0, tileHeight > 0, gap >= 0,
              (width + gap) % (tileWidth + gap) == 0, (height + gap) % (tileHeight + gap) == 0 else { return nil }
        let columns = (width + gap) / (tileWidth + gap), rows = (height + gap) / (tileHeight + gap)
        var out: [RGBImage] = []
        for r in 0..<rows {
            for c in 0..<columns {
                var tile = RGBImage(width: tileWidth, height: tileHeight)
                let ox = c * (tileWidth + gap), oy = r * (tileHeight + gap)
                for y in 0..<tileHeight {
                    let src = ((oy + y) * width + ox) * 3, dst = y * tileWidth * 3
                    tile.pixels[dst..<(dst + tileWidth * 3)] = pixels[src..<(src + tileWidth * 3)]
                }
                out.append(tile)
            }
        }
        return out
    }
}
