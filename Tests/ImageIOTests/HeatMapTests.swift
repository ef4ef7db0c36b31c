import XCTest

@testable import ImageIO

/// The interference heat map: its colour scale, its layout and its refusals.
final class HeatMapTests: XCTestCase {
    func map(_ values: [[Double]], scale: Int = 1) -> HeatMap {
        var m = HeatMap(
            title: "t", rowLabels: values.indices.map { "row \($0)" }, columnKeys: values[0].indices.map { "c\($0)" },
            columnNames: values[0].indices.map { "column \($0)" }, values: values)
        m.scale = scale
        return m
    }

    func testColourDarkensWithTheLogOfTheValue() {
        let m = map([[1]])
        XCTAssertEqual(m.colour(of: 0), .white, "at or below the lowest value: white")
        XCTAssertEqual(m.colour(of: 1e-9), .white)
        XCTAssertEqual(m.colour(of: 1), RGBColour(r: 140, g: 20, b: 20), "the highest value: dark red")
        XCTAssertEqual(m.colour(of: 10), m.colour(of: 1), "above the range: clamped")
        XCTAssertEqual(m.colour(of: .nan), .lightGrey)
        let steps = [1e-8, 1e-6, 1e-4, 1e-2, 1].map { v -> Int in
            let c = m.colour(of: v)
            return Int(c.r) + Int(c.g) + Int(c.b)
        }
        XCTAssertEqual(steps, steps.sorted(by: >), "brightness falls as the value grows: \(steps)")
    }

    func testLayoutHasACellPerValueAndScales() throws {
        let one = try map([[1e-3, 1e-9, 0.5], [1e-12, 1, .infinity]]).render()
        let two = try map([[1e-3, 1e-9, 0.5], [1e-12, 1, .infinity]], scale: 2).render()
        XCTAssertEqual(two.width, 2 * one.width)
        XCTAssertEqual(two.height, 2 * one.height)
        XCTAssertGreaterThanOrEqual(one.width, 3 * HeatMap.cellWidth)
        XCTAssertGreaterThanOrEqual(one.height, 2 * HeatMap.cellHeight + 3 * BitmapFont.standard.lineHeight(scale: 1))
    }

    func testMismatchedOrEmptyInputIsRefused() {
        var m = map([[1, 2]])
        m.values = [[1]]
        XCTAssertThrowsError(try m.render())
        m = map([[1, 2]])
        m.rowLabels = []
        XCTAssertThrowsError(try m.render())
        m = map([[1, 2]])
        m.lowest = 0
        XCTAssertThrowsError(try m.render())
        m = map([[1, 2]])
        m.scale = 0
        XCTAssertThrowsError(try m.render())
        m = map([[1]])
        m.values = []
        XCTAssertThrowsError(try m.render())
    }
}
