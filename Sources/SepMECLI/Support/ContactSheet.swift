import ImageIO

/// A contact sheet filled picture by picture, laid out as `RGBImage.grid` lays it out (rows of
/// `columns` pictures, `gap` pixels apart), so that pictures can be produced in batches and
/// dropped once placed instead of all being held until the end.
struct ContactSheet {
    let columns: Int, rows: Int
    let tileWidth: Int, tileHeight: Int, gap: Int
    private(set) var image: RGBImage

    /// Bytes of the sheet's pixels, computed without overflow (for a memory check before allocating).
    static func bytes(count: Int, columns: Int, tileWidth: Int, tileHeight: Int, gap: Int) -> Double {
        let rows = (Double(count) / Double(columns)).rounded(.up)
        return (Double(columns) * Double(tileWidth + gap)) * (rows * Double(tileHeight + gap)) * 3
    }

    init(count: Int, columns: Int, tileWidth: Int, tileHeight: Int, gap: Int = 2, background: UInt8 = 255) {
        self.columns = columns
        rows = (count + columns - 1) / columns
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        self.gap = gap
        image = RGBImage(
            width: columns * tileWidth + (columns - 1) * gap, height: rows * tileHeight + (rows - 1) * gap,
            fill: background)
    }

    /// Places `picture` at position `index` (row-major).
    mutating func place(_ picture: RGBImage, at index: Int) {
        let ox = (index % columns) * (tileWidth + gap)
        let oy = (index / columns) * (tileHeight + gap)
        let w = min(picture.width, tileWidth)
        let sheetWidth = image.width
        for y in 0..<min(picture.height, tileHeight) {
            let src = y * picture.width * 3
            let dst = ((oy + y) * sheetWidth + ox) * 3
            image.pixels.replaceSubrange(dst..<(dst + w * 3), with: picture.pixels[src..<(src + w * 3)])
        }
    }
}
