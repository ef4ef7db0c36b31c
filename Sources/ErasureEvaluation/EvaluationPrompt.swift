import Toy

/// A prompt the toy classifier can score, and what it expects to see.
///
/// A prompt's concept is the set of attributes it names (shape, colour, style words of the toy
/// vocabulary); an image is correct when every named attribute is what the classifier predicts.
/// The watermark prompt is correct when the watermark head sees the logo. The blank prompt names
/// nothing: its accuracy is the agreement of the classifier's predictions with those on the
/// original model's image for the same seed (1 when nothing changed).
public struct EvaluationPrompt: Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case attributes, watermark, blank }

    public let prompt: String
    public let kind: Kind
    public let shape: Int?, colour: Int?, style: Int?

    public init(_ prompt: String) throws {
        let trimmed = prompt.trimmingCharacters(in: .whitespaces)
        self.prompt = trimmed
        if trimmed.isEmpty {
            kind = .blank
            shape = nil
            colour = nil
            style = nil
        } else if trimmed.lowercased() == ToyConcepts.watermarkPrompt {
            kind = .watermark
            shape = nil
            colour = nil
            style = nil
        } else {
            let parsed = ToyCaption.parse(trimmed.lowercased())
            guard parsed.shape != nil || parsed.colour != nil || parsed.style != nil else {
                throw EvaluationError.unknownConcept(trimmed, known: ToyConcepts.shapes + ToyConcepts.colours + ToyConcepts.styles)
            }
            kind = .attributes
            (shape, colour, style) = parsed
        }
    }

    /// The attribute words, e.g. "red circle", or "watermark" / "blank".
    public var concept: String {
        switch kind {
        case .blank: return "blank"
        case .watermark: return "watermark"
        case .attributes:
            return [style.map { ToyConcepts.styles[$0] }, colour.map { ToyConcepts.colours[$0] }, shape.map { ToyConcepts.shapes[$0] }]
                .compactMap { $0 }.joined(separator: " ")
        }
    }

    /// Per-image correctness (see the type's comment); `original` is needed for the blank prompt.
    public func correct(_ p: ToyClassifier.Predictions, index i: Int, original: ToyClassifier.Predictions?) -> Bool {
        switch kind {
        case .watermark: return p.watermark[i] == 1
        case .blank:
            guard let o = original else { return true }
            return p.shape[i] == o.shape[i] && p.colour[i] == o.colour[i] && p.style[i] == o.style[i] && p.watermark[i] == o.watermark[i]
        case .attributes:
            return (shape.map { p.shape[i] == $0 } ?? true) && (colour.map { p.colour[i] == $0 } ?? true)
                && (style.map { p.style[i] == $0 } ?? true)
        }
    }

    /// Accuracy of each named attribute alone (for the report), by head name.
    public func attributeAccuracy(_ p: ToyClassifier.Predictions) -> [String: Double] {
        let n = Double(max(1, p.shape.count))
        var out: [String: Double] = [:]
        func rate(_ labels: [Int], _ target: Int) -> Double { Double(labels.filter { $0 == target }.count) / n }
        if let shape { out["shape"] = rate(p.shape, shape) }
        if let colour { out["colour"] = rate(p.colour, colour) }
        if let style { out["style"] = rate(p.style, style) }
        if kind == .watermark { out["watermark"] = rate(p.watermark, 1) }
        return out
    }
}
