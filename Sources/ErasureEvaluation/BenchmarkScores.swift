import ImageIO
import Toy

/// The accuracies of one target's grid (UnlearnCanvas, Zhang et al. 2024, §4), from the toy
/// classifier's readings of its images:
///
/// - UA: share of the UA images where the classifier does not read the target (its style for a
///   style target, its shape for an object target);
/// - IRA: share of the IRA images where it reads the prompt's attribute of the target's own domain
///   (style for a style target, shape for an object target);
/// - CRA: share of the CRA images where it reads the other domain's attributes (shape and colour
///   for a style target, style for an object target).
public struct BenchmarkScores: Codable, Equatable, Sendable {
    public var ua: Double
    public var ira: Double
    public var cra: Double

    public init(ua: Double, ira: Double, cra: Double) {
        self.ua = ua
        self.ira = ira
        self.cra = cra
    }

    /// Harmonic mean of UA, IRA and CRA (0 when any of them is 0).
    public var harmonicMean: Double { Self.harmonicMean([ua, ira, cra]) }

    public static func harmonicMean(_ values: [Double]) -> Double {
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else { return 0 }
        return Double(values.count) / values.reduce(0) { $0 + 1 / $1 }
    }

    /// Scores of a grid from the classifier's readings of each prompt's images, by prompt text.
    public init(grid: BenchmarkPromptGrid, readings: [String: ToyClassifier.Predictions]) throws {
        func share(_ prompts: [BenchmarkPromptGrid.Prompt], _ ok: (BenchmarkPromptGrid.Prompt, ToyClassifier.Predictions, Int) -> Bool) throws
            -> Double
        {
            var hits = 0
            var total = 0
            for p in prompts {
                guard let r = readings[p.prompt] else { throw EvaluationError.invalidPrompts("no images were scored for '\(p.prompt)'") }
                for i in r.shape.indices where ok(p, r, i) { hits += 1 }
                total += r.shape.count
            }
            guard total > 0 else {
                throw EvaluationError.invalidPrompts("the \(grid.templateSet.rawValue) grid of '\(grid.target.name)' has an empty group")
            }
            return Double(hits) / Double(total)
        }
        let target = grid.target
        switch target.kind {
        case .style:
            ua = try share(grid.ua) { _, r, i in r.style[i] != target.label }
            ira = try share(grid.ira) { p, r, i in r.style[i] == p.style }
            cra = try share(grid.cra) { p, r, i in r.shape[i] == p.shape && r.colour[i] == p.colour }
        case .object:
            ua = try share(grid.ua) { _, r, i in r.shape[i] != target.label }
            ira = try share(grid.ira) { p, r, i in r.shape[i] == p.shape }
            cra = try share(grid.cra) { p, r, i in r.style[i] == p.style }
        }
    }

    /// Mean SSIM and mean absolute pixel difference (full range 1) over every pair of an edited and
    /// an original image for the same prompt and seed.
    public static func specificity(_ pairs: [(edited: RGBImage, original: RGBImage)]) -> (ssim: Double, pixelDiff: Double) {
        guard !pairs.isEmpty else { return (1, 0) }
        let n = Double(pairs.count)
        return (
            pairs.reduce(0) { $0 + ImageMetrics.ssim($1.edited, $1.original) } / n,
            pairs.reduce(0) { $0 + ImageMetrics.meanAbsoluteDifference($1.edited, $1.original) } / n
        )
    }
}
