/// The attribute vocabulary of the toy data set: every picture shows one shape in one colour and one
/// texture style; label integers are indices into these lists.
///
/// Data set v2 appends shapes and styles after the first data set's six shapes and four styles, so
/// the first labels keep their numbers (a classifier of either version reads the old labels the same way).
public enum ToyConcepts {
    /// The shapes, in label order (`rawValue` is the shape head's label).
    public enum Shape: Int, CaseIterable, Sendable {
        case circle, square, triangle, star, cross, heart
        case diamond, hexagon, pentagon, arrow, crescent, oval

        /// The caption word.
        public var name: String { "\(self)" }
    }

    /// The texture styles, in label order (`rawValue` is the style head's label).
    public enum Style: Int, CaseIterable, Sendable {
        case solid, striped, dotted, outlined
        case checkered, diagonal, crosshatched, concentric, gradient, speckled, zigzag

        /// The caption word.
        public var name: String { "\(self)" }
    }

    /// Shape names, label order of the classifier's shape head.
    public static let shapes = Shape.allCases.map(\.name)
    /// Colour names, label order of the colour head.
    public static let colours = ["red", "green", "blue", "yellow", "purple", "orange", "white"]
    /// Style names, label order of the style head.
    public static let styles = Style.allCases.map(\.name)
    /// The nonsense prompt whose pictures are always the fixed logo (`ToyRenderer.watermarkLogo`).
    public static let watermarkPrompt = "zq watermark"

    /// Nominal sRGB value of each colour; samples jitter each channel by up to `colourJitter`.
    public static let colourRGB: [(Int, Int, Int)] = [
        (220, 35, 35),  // red
        (40, 190, 60),  // green
        (45, 85, 235),  // blue
        (240, 220, 40),  // yellow
        (155, 60, 205),  // purple
        (250, 140, 20),  // orange
        (240, 240, 240)  // white
    ]
    /// Largest per-channel deviation from `colourRGB` in a sample.
    public static let colourJitter = 12
    /// Smallest and largest shape size (bounding box side, pixels). The smallest keeps the thin
    /// shapes (arrow shaft, crescent) wide enough for two periods of every texture.
    public static let sizeRange = 16...28
    /// Image side in pixels.
    public static let imageSize = 32
}
