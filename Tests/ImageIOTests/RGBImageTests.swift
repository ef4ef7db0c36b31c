import ImageIO
import XCTest

final class RGBImageTests: XCTestCase {
    /// `tiles` undoes `grid` for every gap, and refuses sizes that are not a whole number of tiles.
    func testTilesInvertGrid() throws {
        var images: [RGBImage] = []
        for k in 0..<7 {
            var image = RGBImage(width: 5, height: 3)
            for i in image.pixels.indices { image.pixels[i] = UInt8((i * 7 + k * 31) % 256) }
            images.append(image)
        }
        for gap in [0, 2, 3] {
            // 7 pictures in rows of 4: the last row is padded with background tiles.
            let sheet = try RGBImage.grid(images, columns: 4, gap: gap, background: 9)
            let tiles = sheet.tiles(width: 5, height: 3, gap: gap)
            XCTAssertEqual(tiles?.count, 8, "gap \(gap)")
            XCTAssertEqual(Array(tiles?.prefix(7) ?? []), images, "gap \(gap)")
            XCTAssertEqual(tiles?.last?.pixels, [UInt8](repeating: 9, count: 5 * 3 * 3))
        }
        let sheet = try RGBImage.grid(images, columns: 4, gap: 2)
        XCTAssertNil(sheet.tiles(width: 5, height: 3, gap: 1))
        XCTAssertNil(sheet.tiles(width: 4, height: 3, gap: 2))
        XCTAssertNil(sheet.tiles(width: 0, height: 3, gap: 2))
    }

    /// Absurd column counts and gaps are typed errors naming the value or the size and the limit, never a
    /// trap or an attempt to allocate; absurd tile layouts are nil.
    func testGridAndTilesRefuseAbsurdLayouts() throws {
        let images = [RGBImage(width: 4, height: 4, fill: 1), RGBImage(width: 4, height: 4, fill: 2)]
        for columns in [0, -1, Int.min] {
            XCTAssertThrowsError(try RGBImage.grid(images, columns: columns)) { error in
                XCTAssertEqual(error as? RGBImage.Error, .invalidLayout("\(columns) columns (expected at least 1)"))
            }
        }
        XCTAssertThrowsError(try RGBImage.grid(images, columns: 2, gap: -3)) { error in
            XCTAssertEqual(error as? RGBImage.Error, .invalidLayout("gap of -3 pixels (expected at least 0)"))
        }
        for (columns, gap) in [(Int.max, 2), (1 << 40, 0), (2, Int.max), (100_000, 2_000)] {
            XCTAssertThrowsError(try RGBImage.grid(images, columns: columns, gap: gap)) { error in
                guard case .tooLarge(_, _, let limit)? = error as? RGBImage.Error else { return XCTFail("\(error)") }
                XCTAssertEqual(limit, RGBImage.maximumPixelCount)
                XCTAssertTrue("\(error)".contains("\(RGBImage.maximumPixelCount)"), "\(error)")
            }
        }
        // More columns than images: blank columns on the right, within the limit.
        let wide = try RGBImage.grid(images, columns: 5, gap: 1, background: 7)
        XCTAssertEqual([wide.width, wide.height], [5 * 4 + 4, 4])
        XCTAssertEqual(wide[0, 0, 0], 1)
        XCTAssertEqual(wide[5, 0, 0], 2)
        XCTAssertEqual(wide[4, 0, 0], 7)
        XCTAssertEqual(try RGBImage.grid([], columns: 3), RGBImage(width: 0, height: 0))

        let sheet = RGBImage(width: 10, height: 4, fill: 3)
        XCTAssertNil(sheet.tiles(width: 4, height: 4, gap: Int.max))
        XCTAssertNil(sheet.tiles(width: Int.max, height: 4, gap: 1))
        XCTAssertNil(sheet.tiles(width: 4, height: 4, gap: -2))
        XCTAssertNil(sheet.tiles(width: -4, height: 4, gap: 2))
        XCTAssertEqual(sheet.tiles(width: 4, height: 4, gap: 2)?.count, 2)
        XCTAssertEqual(sheet.tiles(width: 10, height: 4, gap: Int.max - 20)?.count, 1)
    }
}
