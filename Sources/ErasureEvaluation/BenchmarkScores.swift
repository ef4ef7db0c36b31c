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
    /// Where the scores come from, by concept name: UA per concept of the other domain (per shape
    /// for a style target, per style for an object target), IRA per retained concept of the
    /// target's own domain (per other style, per other shape).
    public var uaByConcept: [String: Double] = [:]
    public var iraByConcept: [String: Double] = [:]

    public init(ua: Double, ira: Double, cra: Double, uaByConcept: [String: Double] = [:], iraByConcept: [String: Double] = [:]) {
        self.ua = ua
        self.ira = ira
        self.cra = cra
        self.uaByConcept = uaByConcept
        self.iraByConcept = iraByConcept
    }

    /// Harmonic mean of UA, IRA and CRA (0 when any of them is 0).
    public var harmonicMean: Double { Self.harmonicMean([ua, ira, cra]) }

    public static func harmonicMean(_ values: [Double]) -> Double {
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else { return 0 }
        return Double(values.count) / values.reduce(0) { $0 + 1 / $1 }
    }

    /// Scores of a grid from the classifier's readings of each prompt's images, by prompt text.
    public init(grid: BenchmarkPromptGrid, readings: [String: ToyClassifier.Predictions]) throws {
        let target = grid.target
        ua = try Self.share(.ua, grid.ua, target: target, readings: readings, grid: grid.templateSet)
        ira = try Self.share(.ira, grid.ira, target: target, readings: readings, grid: grid.templateSet)
        cra = try Self.share(.cra, grid.cra, target: target, readings: readings, grid: grid.templateSet)
        // A style target's UA prompts differ by shape and its IRA prompts by style; an object
        // target's UA prompts by style and its IRA prompts by shape.
        let byShape = { (p: BenchmarkPromptGrid.Prompt) in ToyConcepts.shapes[p.shape] }
        let byStyle = { (p: BenchmarkPromptGrid.Prompt) in p.style.map { ToyConcepts.styles[$0] } ?? "" }
        let (uaKey, iraKey) = target.kind == .style ? (byShape, byStyle) : (byStyle, byShape)
        uaByConcept = try Self.shares(.ua, grid.ua, by: uaKey, target: target, readings: readings, grid: grid.templateSet)
        iraByConcept = try Self.shares(.ira, grid.ira, by: iraKey, target: target, readings: readings, grid: grid.templateSet)
    }

    /// `share` of each subgroup of `prompts` with the same `key`.
    static func shares(
        _ group: Group, _ prompts: [BenchmarkPromptGrid.Prompt], by key: (BenchmarkPromptGrid.Prompt) -> String,
        target: BenchmarkPromptGrid.Target, readings: [String: ToyClassifier.Predictions], grid: ToyTemplateSet
    ) throws -> [String: Double] {
        let groups = Dictionary(grouping: prompts, by: key)
        return try groups.mapValues { try share(group, $0, target: target, readings: readings, grid: grid) }
    }

    /// The three prompt groups of a grid.
    public enum Group: String, Sendable { case ua, ira, cra }

    /// Whether image `i` of a prompt of `group` counts for its score (see the type's comment).
    static func hit(
        _ group: Group, target: BenchmarkPromptGrid.Target, prompt p: BenchmarkPromptGrid.Prompt, reading r: ToyClassifier.Predictions,
        index i: Int
    ) -> Bool {
        switch (target.kind, group) {
        case (.style, .ua): return r.style[i] != target.label
        case (.style, .ira): return r.style[i] == p.style
        case (.style, .cra): return r.shape[i] == p.shape && r.colour[i] == p.colour
        case (.object, .ua): return r.shape[i] != target.label
        case (.object, .ira): return r.shape[i] == p.shape
        case (.object, .cra): return r.style[i] == p.style
        }
    }

    /// The share of the images of `prompts` that count for `group`'s score.
    static func share(
        _ group: Group, _ prompts: [BenchmarkPromptGrid.Prompt], target: BenchmarkPromptGrid.Target,
        readings: [String: ToyClassifier.Predictions], grid: ToyTemplateSet
    ) throws -> Double {
        var hits = 0
        var total = 0
        for p in prompts {
            guard let r = readings[p.prompt] else { throw EvaluationError.invalidPrompts("no images were scored for '\(p.prompt)'") }
            for i in r.shape.indices where hit(group, target: target, prompt: p, reading: r, index: i) { hits += 1 }
            total += r.shape.count
        }
        guard total > 0 else {
            throw EvaluationError.invalidPrompts("the \(grid.rawValue) \(group.rawValue) group of '\(target.name)' is empty")
        }
        return Double(hits) / Double(total)
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
