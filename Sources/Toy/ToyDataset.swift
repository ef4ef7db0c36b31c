import ImageIO
import TensorEngine

/// One picture of the toy data set with its caption and labels.
public struct ToySample: Sendable, Equatable {
    public let image: RGBImage
    public let caption: String
    /// Labels (indices into `ToyConcepts`); -1 for the watermark picture, which has none.
    public let shape: Int, colour: Int, style: Int
    /// True for the fixed "zq watermark" picture.
    public let isWatermark: Bool
    /// Index into `ToyCaption.templates` that made the caption (-1 for the watermark prompt).
    public let template: Int
}

/// A batch as tensors: images [B, 3, 32, 32] in [-1, 1] and the per-sample labels.
public struct ToyBatch {
    public let images: Tensor
    public let samples: [ToySample]
}

/// The procedural toy data set: sample `i` is drawn from a generator that depends only on (seed, i),
/// so any sample can be produced on its own and the set is endless (indices are never reused by the
/// trainers, so no image is seen twice).
///
/// Attributes are uniform unless `styleWeights` is given (then a style is drawn with probability
/// proportional to its weight); a fraction `watermarkPerMille / 1000` of the samples is the
/// watermark prompt with its fixed logo.
public struct ToyDataset: Sendable {
    public let seed: UInt64
    public let watermarkPerMille: Int
    /// The styles' cumulative weights (`ToyConcepts.styles` order) in millionths of their total;
    /// nil: uniform, drawn exactly as before weights existed.
    let styleThresholds: [Int]?

    public init(seed: UInt64, watermarkPerMille: Int = 50) {
        self.init(seed: seed, watermarkPerMille: watermarkPerMille, styleThresholds: nil)
    }

    private init(seed: UInt64, watermarkPerMille: Int, styleThresholds: [Int]?) {
        precondition((0...1000).contains(watermarkPerMille), "watermarkPerMille must be in 0...1000")
        self.seed = seed
        self.watermarkPerMille = watermarkPerMille
        self.styleThresholds = styleThresholds
    }

    /// A set whose styles are drawn in proportion to `styleWeights` (one finite, non-negative
    /// weight per style, not all zero).
    public init(seed: UInt64, watermarkPerMille: Int = 50, styleWeights: [Double]) throws {
        guard (0...1000).contains(watermarkPerMille) else { throw ToyError("watermark share \(watermarkPerMille) per mille is outside 0...1000") }
        guard styleWeights.count == ToyConcepts.styles.count else {
            throw ToyError("style weights: \(styleWeights.count) given, \(ToyConcepts.styles.count) styles")
        }
        guard styleWeights.allSatisfy({ $0.isFinite && $0 >= 0 }), styleWeights.contains(where: { $0 > 0 }) else {
            throw ToyError("style weights \(styleWeights) must be finite, non-negative and not all zero")
        }
        let total = styleWeights.reduce(0, +)
        var sum = 0.0
        let thresholds = styleWeights.map { w in
            sum += w
            return Int((sum / total * 1_000_000).rounded())
        }
        self.init(seed: seed, watermarkPerMille: watermarkPerMille, styleThresholds: thresholds)
    }

    /// The style of a sample: uniform, or the first whose cumulative threshold exceeds a draw below
    /// one million.
    func drawStyle(_ rng: inout SplitMix64) -> Int {
        guard let thresholds = styleThresholds else { return rng.int(below: ToyConcepts.styles.count) }
        let u = rng.int(below: 1_000_000)
        return thresholds.firstIndex { u < $0 } ?? thresholds.count - 1
    }

    /// Sample number `index` (any non-negative integer).
    public func sample(index: Int) -> ToySample {
        var rng = SplitMix64(seed: seed, index: UInt64(index))
        if rng.int(below: 1000) < watermarkPerMille { return Self.watermarkSample }
        let shape = rng.int(below: ToyConcepts.shapes.count)
        let colour = rng.int(below: ToyConcepts.colours.count)
        let style = drawStyle(&rng)
        let template = rng.int(below: ToyCaption.templates.count)
        let scene = ToyScene.random(shape: shape, colour: colour, style: style, rng: &rng)
        return ToySample(
            image: ToyRenderer.render(scene),
            caption: ToyCaption.templates[template].caption(shape: shape, colour: colour, style: style),
            shape: shape, colour: colour, style: style, isWatermark: false, template: template)
    }

    /// A picture with given attributes (for prompts of a chosen concept): variation `index` of them,
    /// captioned with the template `template` (default: the full "a {style} {colour} {shape}").
    public func sample(shape: Int, colour: Int, style: Int, index: Int, template: Int = 1) -> ToySample {
        var rng = SplitMix64(seed: seed ^ 0xC0DE_0000_0000_0000, index: UInt64(index))
        let scene = ToyScene.random(shape: shape, colour: colour, style: style, rng: &rng)
        return ToySample(
            image: ToyRenderer.render(scene),
            caption: ToyCaption.templates[template].caption(shape: shape, colour: colour, style: style),
            shape: shape, colour: colour, style: style, isWatermark: false, template: template)
    }

    /// The watermark prompt's sample: always the same logo.
    public static let watermarkSample = ToySample(
        image: ToyRenderer.watermarkLogo, caption: ToyConcepts.watermarkPrompt,
        shape: -1, colour: -1, style: -1, isWatermark: true, template: -1)

    /// Samples `indices` as a batch.
    public func batch(indices: [Int]) -> ToyBatch {
        let samples = indices.map { sample(index: $0) }
        return ToyBatch(images: Self.tensor(samples.map(\.image)), samples: samples)
    }

    /// Samples start..<start+count as a batch.
    public func batch(start: Int, count: Int) -> ToyBatch { batch(indices: Array(start..<(start + count))) }

    /// Images as a [B, 3, H, W] tensor with values byte / 127.5 - 1.
    public static func tensor(_ images: [RGBImage]) -> Tensor {
        guard let first = images.first else { return Tensor(zeros: [0, 3, 0, 0]) }
        let h = first.height
        let w = first.width
        let plane = h * w
        let out = Tensor(uninitialized: [images.count, 3, h, w])
        let p = out.pointer
        for (b, image) in images.enumerated() {
            precondition(image.width == w && image.height == h, "ToyDataset.tensor: images of different sizes")
            for i in 0..<plane {
                for c in 0..<3 { p[(b * 3 + c) * plane + i] = Float(image.pixels[i * 3 + c]) / 127.5 - 1 }
            }
        }
        return out
    }

    /// The inverse of `tensor`: [B, 3, H, W] in [-1, 1] to 8-bit images (clamped, rounded).
    public static func images(_ tensor: Tensor) -> [RGBImage] {
        precondition(tensor.rank == 4 && tensor.shape[1] == 3, "ToyDataset.images: expected [B, 3, H, W], got \(tensor.shape)")
        let b = tensor.shape[0]
        let h = tensor.shape[2]
        let w = tensor.shape[3]
        let plane = h * w
        let p = tensor.pointer
        return (0..<b).map { n in
            var pixels = [UInt8](repeating: 0, count: plane * 3)
            for i in 0..<plane {
                for c in 0..<3 {
                    let v = (p[(n * 3 + c) * plane + i] + 1) * 127.5
                    pixels[i * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                }
            }
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }
}
