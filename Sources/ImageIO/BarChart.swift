/// A grouped bar chart of fractions in [0, 1] on a 0-100 % axis, drawn with `BitmapFont` into an
/// `RGBImage` (for example one group per erased target, one bar per score).
///
/// The chart is laid out in base pixels (text at font scale 1) and upscaled by `scale` at the end, so
/// bars, ticks and text stay crisp. Each group's label is centred under its bars; when the labels are
/// wider than a group, groups widen (and their bars with them) up to `maximumWidth`, then the labels
/// alternate between two rows, and when even that does not fit, the bars narrow and the labels are
/// truncated with "…". A value that is NaN or infinite draws no bar; finite values are clamped to [0, 1].
public struct BarChart: Sendable {
    /// Why a chart cannot be drawn.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// A scale, plot height or maximum width outside its allowed range.
        case invalidLayout(String)
        /// Not even one-pixel bars of `count` groups fit in `maximumWidth` pixels.
        case tooManyGroups(count: Int, maximumWidth: Int)

        public var description: String {
            switch self {
            case .invalidLayout(let reason): return "bar chart: \(reason)"
            case let .tooManyGroups(count, maximumWidth):
                return "bar chart: \(count) groups do not fit in \(maximumWidth) pixels even with one-pixel bars"
            }
        }
    }

    /// One bar of every group: its legend name and colour.
    public struct Series: Equatable, Sendable {
        public var name: String
        public var colour: RGBColour
        public init(name: String, colour: RGBColour) {
            self.name = name
            self.colour = colour
        }
    }

    /// One cluster of bars: `values[s]` is series s's fraction; missing entries draw no bar.
    public struct Group: Equatable, Sendable {
        public var label: String
        public var values: [Double]
        public init(label: String, values: [Double]) {
            self.label = label
            self.values = values
        }
    }

    /// A dashed horizontal line across the plot at `value` (a fraction), labelled right of the plot.
    public struct ReferenceLine: Equatable, Sendable {
        public var value: Double
        public var label: String
        public var colour: RGBColour
        public init(value: Double, label: String, colour: RGBColour = .red) {
            self.value = value
            self.label = label
            self.colour = colour
        }
    }

    public var title: String
    public var series: [Series]
    public var groups: [Group]
    public var referenceLines: [ReferenceLine]
    /// Base pixels from the 0 % line to the 100 % line (10...2000).
    public var plotHeight: Int = 200
    /// Integer upscaling of the whole chart (1...8).
    public var scale: Int = 2
    /// The widest image `render` produces, in final pixels (at least 256).
    public var maximumWidth: Int = 4096

    public init(title: String, series: [Series], groups: [Group], referenceLines: [ReferenceLine] = []) {
        self.title = title
        self.series = series
        self.groups = groups
        self.referenceLines = referenceLines
    }

    /// The chart, laid out in base pixels and upscaled by `scale`; at most `maximumWidth` pixels wide.
    /// Throws `.invalidLayout` for a scale, plot height or maximum width out of range and
    /// `.tooManyGroups` when not even one-pixel bars fit.
    public func render() throws -> RGBImage {
        let l = try layout()
        let font = BitmapFont.standard
        var image = RGBImage(width: l.width, height: l.height, fill: 255)

        image.draw(text: font.truncate(title, toWidth: l.width - 2 * l.margin, scale: 2), x: l.margin, y: l.margin, colour: .black, scale: 2)
        for item in l.legend {
            image.fill(x: item.x, y: item.y - 1, width: 9, height: 9, colour: series[item.series].colour)
            image.draw(text: series[item.series].name, x: item.x + 13, y: item.y, colour: .black)
        }

        // Grid lines and tick labels every 25 %; the 0 % line is the axis, drawn after the bars.
        for tick in 0...4 {
            let row = l.row(forValue: Double(tick) / 4)
            if tick > 0 { image.fill(x: l.plotLeft, y: row, width: l.plotWidth, height: 1, colour: .lightGrey) }
            let text = "\(tick * 25)%"
            image.draw(text: text, x: l.plotLeft - 5 - font.width(of: text, scale: 1), y: row - 3, colour: .darkGrey)
        }

        for (g, group) in groups.enumerated() {
            for s in 0..<min(group.values.count, series.count) {
                guard let value = Self.drawable(group.values[s]) else { continue }
                let top = l.row(forValue: value)
                let left = l.barLeft(group: g, series: s)
                image.fill(x: left, y: top, width: l.barWidth, height: l.zeroRow - top, colour: series[s].colour)
            }
        }

        for line in referenceLines {
            guard let value = Self.drawable(line.value) else { continue }
            let row = l.row(forValue: value)
            var x = l.plotLeft
            while x < l.plotLeft + l.plotWidth {
                image.fill(x: x, y: row, width: min(5, l.plotLeft + l.plotWidth - x), height: 1, colour: line.colour)
                x += 8
            }
            image.draw(text: referenceLabel(line), x: l.plotLeft + l.plotWidth + 5, y: row - 3, colour: line.colour)
        }

        // Values above their bars where the number fits the bar, on a white patch over grid and dashes;
        // "n/a" on the axis for a value that is NaN or infinite.
        for (g, group) in groups.enumerated() {
            for s in 0..<min(group.values.count, series.count) {
                let value = Self.drawable(group.values[s]) ?? 0
                let text = group.values[s].isFinite ? "\(Int((value * 100).rounded()))" : "n/a"
                let textWidth = font.width(of: text, scale: 1)
                guard textWidth <= l.barWidth + l.barGap else { continue }
                let left = l.barLeft(group: g, series: s)
                let x = left + (l.barWidth - textWidth + 1) / 2
                let y = l.row(forValue: value) - 9
                image.fill(x: min(left, x - 1), y: y - 1, width: max(l.barWidth, textWidth + 2), height: 9, colour: .white)
                image.draw(text: text, x: x, y: y, colour: .darkGrey)
            }
        }

        image.fill(x: l.plotLeft - 1, y: l.row(forValue: 1) - 4, width: 1, height: l.zeroRow - l.row(forValue: 1) + 5, colour: .darkGrey)
        image.fill(x: l.plotLeft - 1, y: l.zeroRow, width: l.plotWidth + 1, height: 1, colour: .darkGrey)
        for (g, group) in groups.enumerated() {
            let text = font.truncate(group.label, toWidth: l.labelWidth, scale: 1)
            let centre = l.plotLeft + g * l.pitch + l.pitch / 2
            let row = l.labelRows == 1 ? 0 : g % 2
            image.draw(
                text: text, x: centre - font.width(of: text, scale: 1) / 2, y: l.zeroRow + 5 + row * font.lineSpacing, colour: .black)
        }

        guard l.scale > 1 else { return image }
        var scaled = RGBImage(width: l.width * l.scale, height: l.height * l.scale)
        scaled.paste(image, x: 0, y: 0, scale: l.scale)
        return scaled
    }

    /// A reference line's label, cut to 20 characters so that it cannot crowd out the plot.
    func referenceLabel(_ line: ReferenceLine) -> String { BitmapFont.standard.truncate(line.label, toWidth: 119, scale: 1) }

    /// A value as a bar height fraction: nil for NaN and infinities, finite values clamped to [0, 1].
    static func drawable(_ value: Double) -> Double? { value.isFinite ? min(max(value, 0), 1) : nil }

    /// Where everything goes, in base (unscaled) pixels.
    struct Layout {
        let scale: Int
        let width: Int
        let height: Int
        let margin: Int
        let plotLeft: Int
        let plotWidth: Int
        /// Row of the 0 % line; bars fill the rows above it.
        let zeroRow: Int
        let plotHeight: Int
        let pitch: Int
        let barWidth: Int
        let barGap: Int
        let labelRows: Int
        let labelWidth: Int
        let seriesCount: Int
        let legend: [(series: Int, x: Int, y: Int)]

        /// The row of `value`'s grid line and the top row of its bar.
        func row(forValue value: Double) -> Int { zeroRow - Int((value * Double(plotHeight)).rounded()) }

        func barLeft(group: Int, series: Int) -> Int {
            let bars = seriesCount * barWidth + (seriesCount - 1) * barGap
            return plotLeft + group * pitch + (pitch - bars) / 2 + series * (barWidth + barGap)
        }
    }

    func layout() throws -> Layout {
        guard (1...8).contains(scale) else { throw Error.invalidLayout("scale \(scale) (expected 1...8)") }
        guard (10...2000).contains(plotHeight) else { throw Error.invalidLayout("plot height \(plotHeight) (expected 10...2000)") }
        guard maximumWidth >= 256 else { throw Error.invalidLayout("maximum width \(maximumWidth) (expected at least 256)") }
        let font = BitmapFont.standard
        let margin = 10
        let plotLeft = margin + font.width(of: "100%", scale: 1) + 6
        let referenceWidth = referenceLines.map { font.width(of: referenceLabel($0), scale: 1) + 6 }.max() ?? 0
        let available = maximumWidth / scale - plotLeft - referenceWidth - margin
        let seriesCount = max(series.count, 1)
        let maxLabel = groups.map { font.width(of: $0.label, scale: 1) }.max() ?? 0

        // Natural bars: 12 px wide, 1 px apart, 8 px between groups; wider (up to 24 px) to fill
        // groups that widen for their labels.
        let naturalPitch = seriesCount * 12 + (seriesCount - 1) + 8
        let count = max(groups.count, 1)
        var pitch: Int
        var labelRows: Int
        var groupGap = 8
        var barGap = 1
        if count * max(naturalPitch, maxLabel + 12) <= available {
            pitch = max(naturalPitch, maxLabel + 12)
            labelRows = 1
        } else if count * max(naturalPitch, (maxLabel + 7) / 2) <= available {
            pitch = max(naturalPitch, (maxLabel + 7) / 2)
            labelRows = 2
        } else {
            pitch = available / count
            labelRows = 2
            groupGap = max(2, min(8, pitch / 4))
            if (pitch - groupGap - (seriesCount - 1)) / seriesCount < 1 { barGap = 0 }
        }
        let barWidth = min(24, (pitch - groupGap - (seriesCount - 1) * barGap) / seriesCount)
        guard barWidth >= 1 else { throw Error.tooManyGroups(count: groups.count, maximumWidth: maximumWidth) }
        if groups.count <= 1 { labelRows = 1 }
        let labelWidth = labelRows == 1 ? pitch - 4 : 2 * pitch - 6
        let plotWidth = count * pitch
        let width = plotLeft + plotWidth + referenceWidth + margin

        // Legend items flow left to right below the title, wrapping at the right margin.
        var legend: [(series: Int, x: Int, y: Int)] = []
        var x = margin
        var y = margin + 18 + 8
        for s in series.indices {
            let itemWidth = 13 + font.width(of: series[s].name, scale: 1)
            if x > margin && x + itemWidth > width - margin {
                x = margin
                y += font.lineSpacing
            }
            legend.append((s, x, y))
            x += itemWidth + 14
        }
        let legendBottom = series.isEmpty ? y : y + font.lineSpacing
        // Room above the 100 % line for the value printed over a full bar.
        let zeroRow = legendBottom + 14 + plotHeight
        let height = zeroRow + 5 + labelRows * font.lineSpacing + margin
        return Layout(
            scale: scale, width: width, height: height, margin: margin, plotLeft: plotLeft, plotWidth: plotWidth, zeroRow: zeroRow,
            plotHeight: plotHeight, pitch: pitch, barWidth: barWidth, barGap: barGap, labelRows: labelRows, labelWidth: labelWidth,
            seriesCount: seriesCount, legend: legend)
    }
}
