import XCTest

@testable import ImageIO

/// Bar chart and labelled image grid geometry: bars on the axis, sizes, refusals.
final class FigureLayoutTests: XCTestCase {
    private let font = BitmapFont.standard
    private let series: [BarChart.Series] = [
        .init(name: "UA", colour: .blue), .init(name: "IRA", colour: .orange), .init(name: "CRA", colour: .green),
        .init(name: "clamped", colour: .purple), .init(name: "infinite", colour: .red)
    ]

    /// Rows of column `x` whose pixel has `colour`, top to bottom.
    private func rows(of colour: RGBColour, x: Int, in image: RGBImage) -> [Int] {
        (0..<image.height).filter { image.colour(x: x, y: $0) == colour }
    }

    /// A bar of 0.5 starts exactly on the 50 % grid line and ends on the axis; 2.0 is clamped to the 100 %
    /// line; NaN, infinity and negative values draw no bar.
    func testBarsMeetTheirTickRows() throws {
        var chart = BarChart(title: "t", series: series, groups: [.init(label: "checkered", values: [0.5, .nan, 0.25, 2.0, .infinity])])
        chart.scale = 1
        let image = try chart.render()
        let l = try chart.layout()
        XCTAssertEqual(image.width, l.width)
        XCTAssertEqual(image.height, l.height)
        // Grid lines show left of the first bar: 100 %, 75 %, 50 %, 25 % from the top.
        let grid = rows(of: .lightGrey, x: l.plotLeft, in: image)
        XCTAssertEqual(grid, [0, 1, 2, 3].map { l.zeroRow - l.plotHeight + $0 * l.plotHeight / 4 })
        XCTAssertEqual(image.colour(x: l.plotLeft, y: l.zeroRow), .darkGrey)  // the axis

        func bar(_ s: Int) -> [Int] { rows(of: series[s].colour, x: l.barLeft(group: 0, series: s) + l.barWidth / 2, in: image) }
        XCTAssertEqual(bar(0).first, grid[2])
        XCTAssertEqual(bar(0).last, l.zeroRow - 1)
        XCTAssertEqual(bar(0).count, l.plotHeight / 2)
        XCTAssertEqual(bar(1), [])
        XCTAssertEqual(bar(2).first, grid[3])
        XCTAssertEqual(bar(3).first, grid[0])
        XCTAssertEqual(bar(3).count, l.plotHeight)
        XCTAssertEqual(bar(4), [])

        // At scale 2 every base pixel becomes a 2 x 2 block.
        chart.scale = 2
        let scaled = try chart.render()
        XCTAssertEqual(scaled.width, 2 * image.width)
        XCTAssertEqual(scaled.height, 2 * image.height)
        for (x, y) in [(l.barLeft(group: 0, series: 0), grid[2]), (l.plotLeft, grid[1]), (3, 3), (image.width - 1, image.height - 1)] {
            XCTAssertEqual(scaled.colour(x: 2 * x + 1, y: 2 * y + 1), image.colour(x: x, y: y))
        }
    }

    /// Long labels widen groups while the chart fits; then alternate on two rows; then bars narrow and
    /// labels are cut; the width never passes the maximum, and hopeless counts are a typed error.
    func testLayoutFallbacksStayWithinMaximumWidth() throws {
        let styles = ["checkered", "crosshatched", "diagonal stripes", "concentric rings", "gradient", "zigzag"]
        func chart(_ count: Int) -> BarChart {
            let groups = (0..<count).map { BarChart.Group(label: styles[$0 % styles.count], values: [0.9, 0.8, 0.7]) }
            return BarChart(title: "t", series: Array(series.prefix(3)), groups: groups, referenceLines: [.init(value: 0.95, label: "95 %")])
        }
        let eleven = try chart(11).layout()
        XCTAssertEqual(eleven.labelRows, 1)
        XCTAssertGreaterThanOrEqual(eleven.labelWidth, font.width(of: "diagonal stripes", scale: 1))
        XCTAssertEqual(eleven.barWidth, 24)
        // 30 groups: labels alternate on two rows and still fit whole.
        let alternating = try chart(30).layout()
        XCTAssertEqual(alternating.labelRows, 2)
        XCTAssertGreaterThanOrEqual(alternating.labelWidth, font.width(of: "diagonal stripes", scale: 1))
        // 40 groups: the longest labels are cut.
        let cut = try chart(40).layout()
        XCTAssertEqual(cut.labelRows, 2)
        XCTAssertLessThan(cut.labelWidth, font.width(of: "diagonal stripes", scale: 1))
        for count in [1, 11, 30, 40, 100, 300] {
            let l = try chart(count).layout()
            XCTAssertLessThanOrEqual(l.width * l.scale, 4096, "\(count) groups")
            XCTAssertGreaterThanOrEqual(l.barWidth, 1, "\(count) groups")
            // Bars of neighbouring groups never overlap.
            XCTAssertLessThanOrEqual(l.barLeft(group: 0, series: 2) + l.barWidth, l.barLeft(group: 1, series: 0), "\(count) groups")
        }
        XCTAssertThrowsError(try chart(2000).render()) { error in
            XCTAssertEqual(error as? BarChart.Error, .tooManyGroups(count: 2000, maximumWidth: 4096))
        }
        var bad = chart(3)
        bad.scale = 0
        XCTAssertThrowsError(try bad.render()) { error in
            XCTAssertEqual(error as? BarChart.Error, .invalidLayout("scale 0 (expected 1...8)"))
        }
        // An empty chart still draws its axes.
        let empty = try BarChart(title: "", series: [], groups: []).render()
        XCTAssertGreaterThan(empty.width, 0)
    }

    /// A chart survives the PNG round trip unchanged (it is what the benchmark writes).
    func testChartEncodesAsPNG() throws {
        let chart = BarChart(title: "UA / IRA / CRA", series: Array(series.prefix(3)), groups: [.init(label: "zigzag", values: [1, 0.5, 0])])
        let image = try chart.render()
        XCTAssertEqual(try PNG.decode(PNG.encode(image)), image)
    }

    private func tile(_ value: UInt8, width: Int = 12, height: Int = 12) -> RGBImage {
        RGBImage(width: width, height: height, pixels: [UInt8](repeating: value, count: width * height * 3))
    }

    /// The output size follows the documented formula, and every image lands in full (scale^2 pixels
    /// each) in its block.
    func testGridSizeFollowsFormula() throws {
        let rowA = LabelledImageGrid.Row(label: "a checkered diamond", cells: [[tile(10), tile(10), tile(10)], [tile(20), tile(20)]])
        let rowB = LabelledImageGrid.Row(label: "a yellow square", cells: [[tile(30)], [tile(40)]])
        let rowC = LabelledImageGrid.Row(label: "", cells: [[], [tile(50)]])
        let grid = LabelledImageGrid(
            title: "Erasing checkered", columns: ["original", "erased"],
            sections: [
                .init(heading: "UA: erased style", rows: [rowA]), .init(heading: nil, rows: [rowB]),
                .init(heading: "CRA: colours", rows: [rowC])
            ])
        let image = try grid.render()
        // Tiles are 24 x 24 (12 x 12 at scale 2); text lines 18 rows (9 ink rows at text scale 2).
        let labelColumn = font.width(of: "a checkered diamond", scale: 2)
        let block0 = max(3 * 24 + 2 * 2, font.width(of: "original", scale: 2))
        let block1 = max(2 * 24 + 2, font.width(of: "erased", scale: 2))
        XCTAssertEqual(block0, 94)
        XCTAssertEqual(image.width, 2 * 12 + labelColumn + 16 + block0 + 16 + block1)
        let title = 9 * 3 + 10
        let header = 18 + 6
        let rowHeight = 24
        let heading = 18 + 8
        XCTAssertEqual(image.height, 2 * 12 + title + header + 3 * rowHeight + 2 * heading + 4 * 4)
        for (value, count) in [(10, 3), (20, 2), (30, 1), (40, 1), (50, 1)] {
            let v = UInt8(value)
            let found = (0..<(image.width * image.height)).filter {
                image.pixels[3 * $0] == v && image.pixels[3 * $0 + 1] == v && image.pixels[3 * $0 + 2] == v
            }
            XCTAssertEqual(found.count, count * 24 * 24, "tile \(value)")
        }
        var unscaled = grid
        unscaled.scale = 1
        unscaled.title = nil
        let small = try unscaled.render()
        XCTAssertEqual(small.height, 2 * 12 + header + 3 * 18 + 2 * heading + 4 * 4)
    }

    /// Images of different sizes, wrong cell counts and bad scales are typed errors naming the row.
    func testGridRefusesMismatches() {
        let mixed = LabelledImageGrid(
            columns: ["original", "erased"], rows: [.init(label: "a ring", cells: [[tile(1)], [tile(2), tile(3, height: 11)]])])
        XCTAssertThrowsError(try mixed.render()) { error in
            XCTAssertEqual(
                error as? LabelledImageGrid.Error,
                .imageSizeMismatch(row: "a ring", column: 1, index: 1, width: 12, height: 11, expectedWidth: 12, expectedHeight: 12))
        }
        let short = LabelledImageGrid(columns: ["original", "erased"], rows: [.init(label: "a ring", cells: [[tile(1)]])])
        XCTAssertThrowsError(try short.render()) { error in
            XCTAssertEqual(error as? LabelledImageGrid.Error, .cellCountMismatch(row: "a ring", expected: 2, found: 1))
        }
        var zero = LabelledImageGrid(columns: ["original"], rows: [.init(label: "a ring", cells: [[tile(1)]])])
        zero.scale = 0
        XCTAssertThrowsError(try zero.render()) { error in
            XCTAssertEqual(error as? LabelledImageGrid.Error, .invalidLayout("scale 0 (expected 1...16)"))
        }
        var huge = LabelledImageGrid(columns: ["original"], rows: [.init(label: "a ring", cells: [Array(repeating: tile(1), count: 4000)])])
        huge.scale = 16
        XCTAssertThrowsError(try huge.render()) { error in
            guard case .tooLarge = error as? LabelledImageGrid.Error else { return XCTFail("\(error)") }
        }
    }
}
