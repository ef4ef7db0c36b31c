/// An 8-bit RGB image, row-major, 3 bytes per pixel.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * 3 + channel] }
        set { pixels[(y * width + x) * 3 + channel] = newValue }
    }

    /// Places `images` side by side in rows of `columns` (a contact sheet), `gap` pixels apart.
    public static func grid(_ images: [RGBImage], columns: Int, gap: Int = 2, background: UInt8 = 255) -> RGBImage {
        guard let first = images.first else { return RGBImage(width: 0, height: 0) }
        let rows = (images.count + columns - 1) / columns
        let w = columns * first.width + (columns - 1) * gap
        let h = rows * first.height + (rows - 1) * gap
        var out = RGBImage(width: w, height: h, fill: background)
        for (i, img) in images.enumerated() {
            let ox = (i % columns) * (first.width + gap), oy = (i / columns) * (first.height + gap)
            for y in 0..<min(img.height, first.height) {
                for x in 0..<min(img.width, first.width) {
                    for c in 0..<3 { out[ox + x, oy + y, c] = img[x, y, c] }
                }
            }
        }
        return out
    }
}
