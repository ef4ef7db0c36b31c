import ImageIO
import Toy

/// How well the original model draws each concept of the benchmark grid, before any erasure (a UA
/// means little for a concept the model never drew): per template set, the share of the images of
/// every prompt naming a style whose style the classifier reads as that style, and the same for
/// shapes and colours.
public struct BenchmarkOriginalAccuracy: Codable, Equatable, Sendable {
    /// One template set's accuracies, by concept name.
    public struct TemplateSet: Codable, Equatable, Sendable {
        public var templates: String
        public var styles: [String: Double]
        public var shapes: [String: Double]
        public var colours: [String: Double]
        /// The least-drawn concept and its accuracy.
        public var worst: String
        public var worstAccuracy: Double
        /// Images per concept (fewest over the concepts).
        public var images: Int

        enum CodingKeys: String, CodingKey {
            case templates, styles, shapes, colours, worst, images
            case worstAccuracy = "worst_accuracy"
        }
    }

    public var sets: [TemplateSet]

    /// The worst accuracy over every set.
    public var worstAccuracy: Double { sets.map(\.worstAccuracy).min() ?? 0 }

    /// Accuracies from the classifier's readings of each grid prompt's original images.
    public init(grids: [(set: ToyTemplateSet, prompts: [BenchmarkPromptGrid.Prompt])], readings: [String: ToyClassifier.Predictions]) throws {
        sets = try grids.map { set, prompts in
            var styleHits: [Int: (Int, Int)] = [:]
            var shapeHits: [Int: (Int, Int)] = [:]
            var colourHits: [Int: (Int, Int)] = [:]
            func count(_ table: inout [Int: (Int, Int)], _ label: Int, _ read: [Int]) {
                let right = read.filter { $0 == label }.count
                let old = table[label] ?? (0, 0)
                table[label] = (old.0 + right, old.1 + read.count)
            }
            for p in prompts {
                guard let r = readings[p.prompt] else { throw EvaluationError.invalidPrompts("no images were scored for '\(p.prompt)'") }
                count(&shapeHits, p.shape, r.shape)
                if let s = p.style { count(&styleHits, s, r.style) }
                if let c = p.colour { count(&colourHits, c, r.colour) }
            }
            func named(_ table: [Int: (Int, Int)], _ names: [String]) -> [String: Double] {
                Dictionary(uniqueKeysWithValues: table.map { (names[$0.key], Double($0.value.0) / Double(max(1, $0.value.1))) })
            }
            let styles = named(styleHits, ToyConcepts.styles)
            let shapes = named(shapeHits, ToyConcepts.shapes)
            let colours = named(colourHits, ToyConcepts.colours)
            let all = styles.merging(shapes) { a, _ in a }.merging(colours) { a, _ in a }
            guard let worst = all.min(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }) else {
                throw EvaluationError.invalidPrompts("the \(set.rawValue) grid has no prompt")
            }
            let images = [styleHits, shapeHits, colourHits].flatMap(\.values).map(\.1).min() ?? 0
            return TemplateSet(
                templates: set.rawValue, styles: styles, shapes: shapes, colours: colours, worst: worst.key, worstAccuracy: worst.value,
                images: images)
        }
    }

    /// The table of `benchmark.md`: one row per concept, one column per template set.
    public func markdown() -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "–" }
        var out = "\n## Original model\n\nShare of the original model's images that show the concept a prompt names, before any erasure.\n\n"
        out += "| concept | kind | " + sets.map { "\($0.templates) | " }.joined() + "\n"
        out += "|---|---|" + String(repeating: "---|", count: sets.count) + "\n"
        for (kind, names, pick) in [
            ("style", ToyConcepts.styles, { (s: TemplateSet) in s.styles }), ("shape", ToyConcepts.shapes, { $0.shapes }),
            ("colour", ToyConcepts.colours, { $0.colours })
        ] {
            for n in names where sets.contains(where: { pick($0)[n] != nil }) {
                out += "| \(n) | \(kind) | " + sets.map { pct(pick($0)[n]) + " | " }.joined() + "\n"
            }
        }
        out += "\nWorst: " + sets.map { "\($0.worst) \(pct($0.worstAccuracy)) (\($0.templates))" }.joined(separator: ", ") + ".\n"
        return out
    }
}
