/// A figure of image cells in labelled rows and columns: a row label on the left of each row, a column
/// header above each column block, each cell holding several same-sized images side by side (for
/// example the first seeds of one prompt), and optional section headings between groups of rows.
///
/// Sizes, in output pixels, with `line = BitmapFont.inkHeight * textScale` and tiles of
/// `imageWidth * scale` x `imageHeight * scale`:
/// - column block c is as wide as the most images any row has in column c (tiles `imageGap` apart) or
///   as its header, whichever is wider; blocks are `blockGap` apart;
/// - width = 2 * margin + label column + blockGap + sum of block widths + (columns - 1) * blockGap,
///   where the label column is the widest row label (labels are cut to `maximumLabelCharacters`);
/// - height = 2 * margin + title (9 * (textScale + 1) + 10, when there is one) + header (line + 6)
///   + each row (max(tile height, line)) and each section heading (line + 8), `rowGap` apart.
public struct LabelledImageGrid: Sendable {
    /// Why a grid cannot be drawn.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// A scale, gap or margin outside its allowed range.
        case invalidLayout(String)
        /// Row `row` has `found` cells for `expected` columns.
        case cellCountMismatch(row: String, expected: Int, found: Int)
        /// Image `index` of column `column` in row `row` is not the size of the grid's first image.
        case imageSizeMismatch(row: String, column: Int, index: Int, width: Int, height: Int, expectedWidth: Int, expectedHeight: Int)
        /// The figure would have more pixels than `limit` (`RGBImage.maximumPixelCount`).
        case tooLarge(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case .invalidLayout(let reason): return "image grid: \(reason)"
            case let .cellCountMismatch(row, expected, found):
                return "image grid: row \"\(row)\" has \(found) cells for \(expected) columns"
            case let .imageSizeMismatch(row, column, index, w, h, ew, eh):
                return "image grid: image \(index) of column \(column) in row \"\(row)\" is \(w)x\(h), expected \(ew)x\(eh) like the first image"
            case let .tooLarge(w, h, limit):
                return "image grid of \(w)x\(h) pixels exceeds the limit of \(limit) pixels"
            }
        }
    }

    /// One row: its label and, for every column, the images of that cell (left to right).
    public struct Row: Equatable, Sendable {
        public var label: String
        public var cells: [[RGBImage]]
        public init(label: String, cells: [[RGBImage]]) {
            self.label = label
            self.cells = cells
        }
    }

    /// Rows under an optional heading drawn as a full-width band.
    public struct Section: Equatable, Sendable {
        public var heading: String?
        public var rows: [Row]
        public init(heading: String?, rows: [Row]) {
            self.heading = heading
            self.rows = rows
        }
    }

    public var title: String?
    public var columns: [String]
    public var sections: [Section]
    /// Integer upscaling of every image (1...16).
    public var scale: Int = 2
    /// Font scale of labels, headers and headings (1...8); the title is one step larger.
    public var textScale: Int = 2
    /// Pixels between images of one cell (0...64).
    public var imageGap: Int = 2
    /// Pixels between column blocks and between the label column and the first block (0...256).
    public var blockGap: Int = 16
    /// Pixels between rows and section headings (0...256).
    public var rowGap: Int = 4
    /// Pixels of white around the figure (0...256).
    public var margin: Int = 12
    /// Row labels longer than this many characters end in "…".
    public var maximumLabelCharacters: Int = 60

    public init(title: String? = nil, columns: [String], sections: [Section]) {
        self.title = title
        self.columns = columns
        self.sections = sections
    }

    /// One section without a heading.
    public init(title: String? = nil, columns: [String], rows: [Row]) {
        self.init(title: title, columns: columns, sections: [Section(heading: nil, rows: rows)])
    }

    public func render() throws -> RGBImage {
        for (name, value, range) in [
            ("scale", scale, 1...16), ("text scale", textScale, 1...8), ("image gap", imageGap, 0...64),
            ("block gap", blockGap, 0...256), ("row gap", rowGap, 0...256), ("margin", margin, 0...256),
            ("maximum label characters", maximumLabelCharacters, 1...10_000)
        ] where !range.contains(value) {
            throw Error.invalidLayout("\(name) \(value) (expected \(range.lowerBound)...\(range.upperBound))")
        }
        let rows = sections.flatMap(\.rows)
        var tileSize: (width: Int, height: Int)?
        var imagesPerColumn = [Int](repeating: 0, count: columns.count)
        for row in rows {
            guard row.cells.count == columns.count else {
                throw Error.cellCountMismatch(row: row.label, expected: columns.count, found: row.cells.count)
            }
            for (c, cell) in row.cells.enumerated() {
                imagesPerColumn[c] = max(imagesPerColumn[c], cell.count)
                for (i, image) in cell.enumerated() {
                    guard let size = tileSize else {
                        tileSize = (image.width, image.height)
                        continue
                    }
                    guard image.width == size.width, image.height == size.height else {
                        throw Error.imageSizeMismatch(
                            row: row.label, column: c, index: i, width: image.width, height: image.height, expectedWidth: size.width,
                            expectedHeight: size.height)
                    }
                }
            }
        }
        // An image's sides are at most its pixel count (it is in memory) and scale <= 16: no overflow.
        let tileWidth = (tileSize?.width ?? 0) * scale
        let tileHeight = (tileSize?.height ?? 0) * scale

        let font = BitmapFont.standard
        let line = font.inkHeight * textScale
        let labels = rows.map { label($0.label) }
        let labelColumn = labels.map { font.width(of: $0, scale: textScale) }.max() ?? 0
        var blockWidths: [Int] = []
        for (c, header) in columns.enumerated() {
            let n = imagesPerColumn[c]
            let images = n == 0 ? 0 : n * tileWidth + (n - 1) * imageGap
            blockWidths.append(max(images, font.width(of: header, scale: textScale)))
        }
        let titleHeight = title == nil ? 0 : 9 * (textScale + 1) + 10
        let headerHeight = line + 6
        let rowHeight = max(tileHeight, line)
        let headingHeight = line + 8
        let headings = sections.filter { $0.heading != nil }.count
        let items = rows.count + headings

        let width = blockWidths.reduce(2 * margin + labelColumn + blockGap + max(columns.count - 1, 0) * blockGap, +)
        let height =
            2 * margin + titleHeight + headerHeight + rows.count * rowHeight + headings * headingHeight + max(items - 1, 0) * rowGap
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, area <= RGBImage.maximumPixelCount else {
            throw Error.tooLarge(width: width, height: height, limit: RGBImage.maximumPixelCount)
        }

        var image = RGBImage(width: width, height: height, fill: 255)
        let inner = width - 2 * margin
        if let title {
            image.draw(text: font.truncate(title, toWidth: inner, scale: textScale + 1), x: margin, y: margin, colour: .black, scale: textScale + 1)
        }
        var blockLefts: [Int] = []
        var x = margin + labelColumn + blockGap
        for (c, header) in columns.enumerated() {
            blockLefts.append(x)
            let headerX = x + (blockWidths[c] - font.width(of: header, scale: textScale)) / 2
            image.draw(text: header, x: headerX, y: margin + titleHeight, colour: .black, scale: textScale)
            x += blockWidths[c] + blockGap
        }

        var y = margin + titleHeight + headerHeight
        var labelIndex = 0
        for section in sections {
            if let heading = section.heading {
                image.fill(x: margin, y: y, width: inner, height: headingHeight, colour: RGBColour(r: 236, g: 236, b: 236))
                image.fill(x: margin, y: y, width: 2 * textScale, height: headingHeight, colour: .darkGrey)
                let text = font.truncate(heading, toWidth: inner - 8 * textScale, scale: textScale)
                image.draw(text: text, x: margin + 5 * textScale, y: y + 4 + textScale, colour: .black, scale: textScale)
                y += headingHeight + rowGap
            }
            for row in section.rows {
                // Centre the capital height (7 of the 9 ink rows) on the row.
                let labelY = y + (rowHeight - 7 * textScale) / 2
                image.draw(text: labels[labelIndex], x: margin, y: labelY, colour: .black, scale: textScale)
                labelIndex += 1
                for (c, cell) in row.cells.enumerated() {
                    let n = imagesPerColumn[c]
                    let imagesWidth = n == 0 ? 0 : n * tileWidth + (n - 1) * imageGap
                    let left = blockLefts[c] + (blockWidths[c] - imagesWidth) / 2
                    let top = y + (rowHeight - tileHeight) / 2
                    for (i, picture) in cell.enumerated() {
                        image.paste(picture, x: left + i * (tileWidth + imageGap), y: top, scale: scale)
                    }
                }
                y += rowHeight + rowGap
            }
        }
        return image
    }

    /// `text` cut to `maximumLabelCharacters` characters, the last one "…" when cut.
    private func label(_ text: String) -> String {
        text.count <= maximumLabelCharacters ? text : String(text.prefix(maximumLabelCharacters - 1)) + "…"
    }
}
