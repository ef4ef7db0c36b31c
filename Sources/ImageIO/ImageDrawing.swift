/// An 8-bit RGB colour for the drawing primitives on `RGBImage`.
public struct RGBColour: Equatable, Hashable, Sendable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(r: UInt8, g: UInt8, b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let black = RGBColour(r: 0, g: 0, b: 0)
    public static let white = RGBColour(r: 255, g: 255, b: 255)
    public static let darkGrey = RGBColour(r: 64, g: 64, b: 64)
    public static let grey = RGBColour(r: 128, g: 128, b: 128)
    public static let lightGrey = RGBColour(r: 222, g: 222, b: 222)
    public static let blue = RGBColour(r: 46, g: 110, b: 180)
    public static let orange = RGBColour(r: 236, g: 128, b: 30)
    public static let green = RGBColour(r: 52, g: 150, b: 72)
    public static let red = RGBColour(r: 200, g: 48, b: 48)
    public static let purple = RGBColour(r: 132, g: 92, b: 180)

    /// Distinct series colours, in the order a chart hands them out.
    public static let palette: [RGBColour] = [.blue, .orange, .green, .red, .purple, .grey]
}

/// Clipped drawing primitives for figures: filled rectangles, pasted (upscaled) images and bitmap text.
/// Every coordinate may lie outside the image, be negative or be near `Int.max`: what falls outside is
/// dropped, nothing traps, and the image keeps its size.
extension RGBImage {
    /// The pixel at (`x`, `y`) as a colour; the caller keeps the point inside the image.
    public func colour(x: Int, y: Int) -> RGBColour {
        let i = (y * width + x) * 3
        return RGBColour(r: pixels[i], g: pixels[i + 1], b: pixels[i + 2])
    }

    /// Paints the `width` x `height` rectangle whose top-left pixel is (`x`, `y`), clipped to the image;
    /// a non-positive width or height paints nothing.
    public mutating func fill(x: Int, y: Int, width fillWidth: Int, height fillHeight: Int, colour: RGBColour) {
        guard let xs = Self.clip(start: x, length: fillWidth, limit: width),
            let ys = Self.clip(start: y, length: fillHeight, limit: height)
        else { return }
        for row in ys {
            var i = (row * width + xs.lowerBound) * 3
            for _ in xs {
                pixels[i] = colour.r
                pixels[i + 1] = colour.g
                pixels[i + 2] = colour.b
                i += 3
            }
        }
    }

    /// Copies `image` with its top-left pixel at (`x`, `y`), each source pixel becoming a `scale` x `scale`
    /// block (nearest neighbour; scales below 1 paste at 1), clipped to this image.
    public mutating func paste(_ image: RGBImage, x: Int, y: Int, scale: Int = 1) {
        let s = max(scale, 1)
        let (w, o1) = image.width.multipliedReportingOverflow(by: s)
        let (h, o2) = image.height.multipliedReportingOverflow(by: s)
        guard let xs = Self.clip(start: x, length: o1 ? Int.max : w, limit: width),
            let ys = Self.clip(start: y, length: o2 ? Int.max : h, limit: height)
        else { return }
        for row in ys {
            // row - y and column - x are in 0..<h and 0..<w: no overflow, and the quotient is a source index.
            let sourceRow = (row - y) / s
            for column in xs {
                let source = (sourceRow * image.width + (column - x) / s) * 3
                let target = (row * width + column) * 3
                pixels[target] = image.pixels[source]
                pixels[target + 1] = image.pixels[source + 1]
                pixels[target + 2] = image.pixels[source + 2]
            }
        }
    }

    /// Draws `text` in `font` with the top of its first line at `y` and its first glyph's left edge at
    /// `x`, each font pixel a `scale` x `scale` block (scale clamped to 1...1024), clipped to the image.
    /// One line only: a newline draws as the missing-glyph box.
    public mutating func draw(text: String, x: Int, y: Int, colour: RGBColour, scale: Int = 1, font: BitmapFont = .standard) {
        let s = BitmapFont.clampedScale(scale)
        let step = font.advance * s
        // Pen positions stay far from overflow: images are at most 2^27 pixels, so anything left of
        // -2^40 or right of the image is never drawn and the loop stops before the pen can overflow.
        guard y > Int.min / 2, y < height, x < width else { return }
        var penX = x
        for character in text {
            if penX >= width { break }
            if penX > -step {
                let glyph = font.glyphRows(character)
                for r in 0..<font.glyphHeight where glyph.bits[r] != 0 {
                    for c in 0..<font.glyphWidth where glyph.bits[r] & (1 << (font.glyphWidth - 1 - c)) != 0 {
                        fill(x: penX + c * s, y: y + (r + glyph.shift) * s, width: s, height: s, colour: colour)
                    }
                }
            }
            let (next, overflow) = penX.addingReportingOverflow(step)
            if overflow { break }
            penX = next
        }
    }

    /// The part of `start ..< start + length` inside `0 ..< limit`, or nil when empty; overflow-safe.
    static func clip(start: Int, length: Int, limit: Int) -> Range<Int>? {
        guard length > 0, start < limit else { return nil }
        let (end, overflow) = start.addingReportingOverflow(length)
        let upper = overflow ? limit : min(end, limit)
        let lower = max(start, 0)
        return lower < upper ? lower..<upper : nil
    }
}
