/// The attribute vocabulary of the toy data set: every picture shows one shape in one colour and one
/// texture style; label integers are indices into these lists.
public enum ToyConcepts {
    /// Shape names, label order of the classifier's shape head.
    public static let shapes = ["circle", "square", "triangle", "star", "cross", "heart"]
    /// Colour names, label order of the colour head.
    public static let colours = ["red", "green", "blue", "yellow", "purple", "orange", "white"]
    /// Style names, label order of the style head.
    public static let styles = ["solid", "striped", "dotted", "outlined"]
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
    /// Smallest and largest shape size (bounding box side, pixels).
    public static let sizeRange = 14...26
    /// Image side in pixels.
    public static let imageSize = 32
}
