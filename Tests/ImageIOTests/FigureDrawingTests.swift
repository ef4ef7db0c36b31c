import XCTest

@testable import ImageIO

/// The bitmap font and the clipped drawing primitives behind the benchmark figures.
final class FigureDrawingTests: XCTestCase {
    private let font = BitmapFont.standard

    /// Pixels of `image` that have `colour`, as (x, y).
    private func pixels(of colour: RGBColour, in image: RGBImage) -> [(x: Int, y: Int)] {
        var found: [(x: Int, y: Int)] = []
        for y in 0..<image.height {
            for x in 0..<image.width where image.colour(x: x, y: y) == colour { found.append((x, y)) }
        }
        return found
    }

    /// "I" is a 3-pixel bar on top and bottom and a 5-pixel stem: 11 font pixels, each scale^2 image
    /// pixels, starting one column right of the pen.
    func testGlyphPixelsAtScale() {
        XCTAssertEqual(font.litPixels(of: "I").count, 11)
        for scale in [1, 3] {
            var image = RGBImage(width: 40, height: 40, fill: 255)
            image.draw(text: "I", x: 2, y: 5, colour: .black, scale: scale)
            let ink = pixels(of: .black, in: image)
            XCTAssertEqual(ink.count, 11 * scale * scale, "scale \(scale)")
            XCTAssertEqual(ink.map(\.x).min(), 2 + scale)
            XCTAssertEqual(ink.map(\.x).max(), 2 + 4 * scale - 1)
            XCTAssertEqual(ink.map(\.y).min(), 5)
            XCTAssertEqual(ink.map(\.y).max(), 5 + 7 * scale - 1)
        }
        // Descenders sit two rows lower: the tail of "g" reaches the 9th ink row, "x" stays in rows 2-6.
        XCTAssertEqual(font.litPixels(of: "g").map(\.row).max(), 8)
        XCTAssertEqual(font.litPixels(of: "x").map(\.row).min(), 2)
        XCTAssertEqual(font.litPixels(of: "x").map(\.row).max(), 6)
        XCTAssertEqual(font.litPixels(of: ".").count, 4)
        XCTAssertEqual(font.litPixels(of: " ").count, 0)
    }

    /// Every promised character has its own glyph, distinct from the others; anything else draws as the
    /// 20-pixel hollow box.
    func testCharacterSetAndMissingGlyphBox() {
        let promised = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;-+%/()[]_'\"=<>?!#&*·×…"
        var seen: [String: Character] = [:]
        for character in promised {
            XCTAssertTrue(font.hasGlyph(character), "\(character)")
            let key = font.litPixels(of: character).map { "\($0.column),\($0.row)" }.joined(separator: ";")
            XCTAssertFalse(key.isEmpty, "\(character) draws nothing")
            XCTAssertNil(seen[key], "\(character) looks like \(seen[key].map(String.init) ?? "")")
            seen[key] = character
        }
        for missing: Character in ["é", "\n", "😀", "~"] {
            XCTAssertFalse(font.hasGlyph(missing))
            XCTAssertEqual(font.litPixels(of: missing).count, 20, "\(missing)")
        }
        var image = RGBImage(width: 10, height: 10, fill: 255)
        image.draw(text: "é", x: 0, y: 0, colour: .black)
        XCTAssertEqual(pixels(of: .black, in: image).count, 20)
        XCTAssertEqual(image.colour(x: 2, y: 3), .white)  // hollow
    }

    /// n characters are n * 6 * scale pixels less the trailing gap; truncation ends in "…" and fits.
    func testTextWidthAndTruncation() {
        XCTAssertEqual(font.width(of: "", scale: 2), 0)
        XCTAssertEqual(font.width(of: "abc", scale: 1), 17)
        XCTAssertEqual(font.width(of: "abc", scale: 3), 51)
        XCTAssertEqual(font.width(of: "é·×", scale: 2), 34)
        XCTAssertEqual(font.width(of: "abc", scale: 0), 17)  // scales below 1 draw at 1
        XCTAssertEqual(font.lineHeight(scale: 2), 22)
        XCTAssertEqual(font.truncate("crosshatched", toWidth: 71, scale: 1), "crosshatched")
        XCTAssertEqual(font.truncate("crosshatched", toWidth: 70, scale: 1), "crosshatch…")
        XCTAssertEqual(font.truncate("crosshatched", toWidth: 40, scale: 1), "cross…")
        XCTAssertEqual(font.width(of: "cross…", scale: 1), 35)
        XCTAssertEqual(font.truncate("crosshatched", toWidth: 4, scale: 1), "")
        XCTAssertEqual(font.truncate("crosshatched", toWidth: 5, scale: 1), "…")
        XCTAssertEqual(font.truncate("ab", toWidth: Int.max, scale: 1), "ab")
    }

    /// Text, rectangles and pastes that hang over any border are clipped; absurd positions and scales
    /// draw nothing (or the visible part) and never trap or resize the image.
    func testClippingNeverTrapsAndKeepsSize() {
        var image = RGBImage(width: 10, height: 10, fill: 255)
        // "H" 3 columns left of the border: glyph column 4 (rows 0-6) lands on x = 1, column 3 (row 3) on x = 0.
        image.draw(text: "H", x: -3, y: 0, colour: .black)
        let ink = pixels(of: .black, in: image)
        XCTAssertEqual(ink.count, 8)
        XCTAssertEqual(Set(ink.map(\.x)), [0, 1])

        let extremes = [Int.min, -1 << 40, -100, -1, 0, 5, 9, 10, 1 << 40, Int.max]
        for x in extremes {
            for y in extremes {
                for scale in [Int.min, 0, 1, 7, 5000, Int.max] {
                    image.draw(text: "Wg…é", x: x, y: y, colour: .red, scale: scale)
                    image.fill(x: x, y: y, width: scale, height: Int.max, colour: .blue)
                    image.paste(RGBImage(width: 3, height: 2, fill: 7), x: x, y: y, scale: scale)
                }
            }
        }
        XCTAssertEqual(image.width, 10)
        XCTAssertEqual(image.height, 10)
        XCTAssertEqual(image.pixels.count, 300)

        var square = RGBImage(width: 5, height: 5, fill: 255)
        square.fill(x: -2, y: -2, width: 4, height: 4, colour: .green)
        XCTAssertEqual(pixels(of: .green, in: square).map { [$0.x, $0.y] }, [[0, 0], [1, 0], [0, 1], [1, 1]])
        square.fill(x: 4, y: 4, width: Int.max, height: Int.max, colour: .red)
        XCTAssertEqual(pixels(of: .red, in: square).map { [$0.x, $0.y] }, [[4, 4]])
    }

    /// Pasting upscales each source pixel into a scale x scale block at the given corner, clipped.
    func testPasteUpscalesNearestNeighbour() {
        let source = RGBImage(width: 2, height: 1, pixels: [200, 0, 0, 0, 0, 200])
        let red = RGBColour(r: 200, g: 0, b: 0)
        let blue = RGBColour(r: 0, g: 0, b: 200)
        var image = RGBImage(width: 6, height: 4, fill: 255)
        image.paste(source, x: 1, y: 1, scale: 2)
        XCTAssertEqual(pixels(of: red, in: image).map { [$0.x, $0.y] }, [[1, 1], [2, 1], [1, 2], [2, 2]])
        XCTAssertEqual(pixels(of: blue, in: image).map { [$0.x, $0.y] }, [[3, 1], [4, 1], [3, 2], [4, 2]])
        var clipped = RGBImage(width: 3, height: 1, fill: 255)
        clipped.paste(source, x: -1, y: 0, scale: 2)
        XCTAssertEqual(clipped.pixels, [200, 0, 0, 0, 0, 200, 0, 0, 200])
    }
}
