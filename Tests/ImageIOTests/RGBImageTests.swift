import ImageIO
import XCTest

final class RGBImageTests: XCTestCase {
    /// `tiles` undoes `grid` for every gap, and refuses sizes that are not a whole number of tiles.
    func testTilesInvertGrid() {
        var images: [RGBImage] = []
        for k in 0..<7 {
            var image = RGBImage(width: 5, height: 3)
            for i in image.pixels.indices { image.pixels[i] = UInt8((i * 7 + k * 31) % 256) }
            images.append(image)
        }
        for gap in [0, 2, 3] {
            // 7 pictures in rows of 4: the last row is padded with background tiles.
            let sheet = RGBImage.grid(images, columns: 4, gap: gap, background: 9)
            let tiles = sheet.tiles(width: 5, height: 3, gap: gap)
            XCTAssertEqual(tiles?.count, 8, "gap \(gap)")
            XCTAssertEqual(Array(tiles?.prefix(7) ?? []), images, "gap \(gap)")
            XCTAssertEqual(tiles?.last?.pixels, [UInt8](repeating: 9, count: 5 * 3 * 3))
        }
        let sheet = RGBImage.grid(images, columns: 4, gap: 2)
        XCTAssertNil(sheet.tiles(width: 5, height: 3, gap: 1))
        XCTAssertNil(sheet.tiles(width: 4, height: 3, gap: 2))
        XCTAssertNil(sheet.tiles(width: 0, height: 3, gap: 2))
    }
}
