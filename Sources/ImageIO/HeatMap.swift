import Foundation

/// A matrix of non-negative values drawn as coloured cells on a log₁₀ scale (white at `lowest` and
/// below, dark red at `highest` and above), each cell labelled with its value, rows labelled on the
/// left and columns by short keys whose full names are listed under the matrix (for example the
/// interference matrix of a set of shifts: one row per shift, one column per prompt).
///
/// Laid out in base pixels (text at font scale 1) and upscaled by `scale`. A value that is NaN or
/// infinite draws a grey cell marked "-".
public struct HeatMap: Sendable {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case invalidLayout(String)
        public var description: String {
            switch self {
            case .invalidLayout(let reason): return "heat map: \(reason)"
            }
        }
    }

    public var title: String
    public var rowLabels: [String]
    /// Short keys shown over the columns, and the full names listed under the matrix.
    public var columnKeys: [String]
    public var columnNames: [String]
    /// values[row][column]
    public var values: [[Double]]
    public var lowest: Double
    public var highest: Double
    public var scale: Int = 2

    public init(
        title: String, rowLabels: [String], columnKeys: [String], columnNames: [String], values: [[Double]], lowest: Double = 1e-8,
        highest: Double = 1
    ) {
        self.title = title
        self.rowLabels = rowLabels
        self.columnKeys = columnKeys
        self.columnNames = columnNames
        self.values = values
        self.lowest = lowest
        self.highest = highest
    }

    static let cellWidth = 44
    static let cellHeight = 16
    static let margin = 8
    static let maximumRowLabelWidth = 240

    /// The chart as an image. Throws `.invalidLayout` for mismatched sizes, an empty matrix, a bad
    /// scale or range, or an image larger than `RGBImage.maximumPixelCount`.
    public func render() throws -> RGBImage {
        let font = BitmapFont.standard
        guard !values.isEmpty, values.allSatisfy({ $0.count == columnKeys.count }), !columnKeys.isEmpty else {
            throw Error.invalidLayout("every row needs one value per column, and there must be at least one of each")
        }
        guard rowLabels.count == values.count, columnNames.count == columnKeys.count else {
            throw Error.invalidLayout(
                "\(rowLabels.count) row labels for \(values.count) rows, \(columnNames.count) names for \(columnKeys.count) columns")
        }
        guard (1...8).contains(scale) else { throw Error.invalidLayout("scale \(scale) is outside 1...8") }
        guard lowest > 0, highest > lowest, lowest.isFinite, highest.isFinite else {
            throw Error.invalidLayout("the colour range \(lowest)...\(highest) must be positive and increasing")
        }
        let labelWidth = min(Self.maximumRowLabelWidth, rowLabels.map { font.width(of: $0, scale: 1) }.max() ?? 0)
        let left = Self.margin + labelWidth + 6
        let top = Self.margin + font.lineHeight(scale: 2) + font.lineHeight(scale: 1) + 4
        let legend = columnKeys.indices.map { "\(columnKeys[$0]): \(columnNames[$0].isEmpty ? "(blank prompt)" : columnNames[$0])" }
        let matrixWidth = columnKeys.count * Self.cellWidth
        let width =
            max(left + matrixWidth, font.width(of: title, scale: 2), legend.map { Self.margin + font.width(of: $0, scale: 1) }.max() ?? 0)
            + Self.margin
        let height = top + values.count * Self.cellHeight + 8 + legend.count * font.lineHeight(scale: 1) + Self.margin
        guard width * scale * height * scale <= RGBImage.maximumPixelCount else {
            throw Error.invalidLayout("\(values.count)×\(columnKeys.count) cells do not fit in one image")
        }
        var image = RGBImage(width: width, height: height, fill: 255)
        image.draw(text: title, x: Self.margin, y: Self.margin, colour: .black, scale: 2)
        for (c, key) in columnKeys.enumerated() {
            let text = font.truncate(key, toWidth: Self.cellWidth - 2, scale: 1)
            image.draw(
                text: text, x: left + c * Self.cellWidth + (Self.cellWidth - font.width(of: text, scale: 1)) / 2, y: top - 12, colour: .darkGrey)
        }
        for (r, row) in values.enumerated() {
            let y = top + r * Self.cellHeight
            let label = font.truncate(rowLabels[r], toWidth: labelWidth, scale: 1)
            image.draw(text: label, x: left - 6 - font.width(of: label, scale: 1), y: y + 4, colour: .black)
            for (c, v) in row.enumerated() {
                let x = left + c * Self.cellWidth
                let fill = colour(of: v)
                image.fill(x: x, y: y, width: Self.cellWidth - 1, height: Self.cellHeight - 1, colour: fill)
                let text = v.isFinite ? String(format: "%.0e", v) : "-"
                let ink: RGBColour = luminance(fill) < 128 ? .white : .black
                image.draw(text: text, x: x + (Self.cellWidth - font.width(of: text, scale: 1)) / 2, y: y + 4, colour: ink)
            }
        }
        var y = top + values.count * Self.cellHeight + 8
        for line in legend {
            image.draw(text: font.truncate(line, toWidth: width - 2 * Self.margin, scale: 1), x: Self.margin, y: y, colour: .darkGrey)
            y += font.lineHeight(scale: 1)
        }
        guard scale > 1 else { return image }
        var scaled = RGBImage(width: width * scale, height: height * scale)
        scaled.paste(image, x: 0, y: 0, scale: scale)
        return scaled
    }

    /// White → orange → dark red over log₁₀ lowest ... log₁₀ highest; grey for a value that is not finite.
    func colour(of value: Double) -> RGBColour {
        guard value.isFinite else { return .lightGrey }
        let t = max(0, min(1, (log10(max(value, lowest)) - log10(lowest)) / (log10(highest) - log10(lowest))))
        func mix(_ a: Double, _ b: Double, _ u: Double) -> UInt8 { UInt8((a + (b - a) * u).rounded()) }
        if t < 0.5 {
            let u = t / 0.5
            return RGBColour(r: mix(255, 245, u), g: mix(255, 160, u), b: mix(255, 60, u))
        }
        let u = (t - 0.5) / 0.5
        return RGBColour(r: mix(245, 140, u), g: mix(160, 20, u), b: mix(60, 20, u))
    }

    private func luminance(_ c: RGBColour) -> Double { 0.299 * Double(c.r) + 0.587 * Double(c.g) + 0.114 * Double(c.b) }
}
