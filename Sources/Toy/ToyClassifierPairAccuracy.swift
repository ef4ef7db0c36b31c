import TensorEngine

/// Classifier accuracy on every (style, shape) pair of the data set: a style or shape that reads
/// well on average can still fail on one combination (a texture lost on a thin shape), and an
/// erasure benchmark needs every style recognisable on every shape.
public struct ToyClassifierPairAccuracy: Sendable {
    /// Pictures scored per pair.
    public let picturesPerPair: Int
    /// correct[style][shape] = (shape head, colour head, style head, all three) correct counts.
    public let correct: [[(shape: Int, colour: Int, style: Int, all: Int)]]

    /// Fraction of pair (style, shape)'s pictures on which shape, colour and style are all read correctly.
    public func accuracy(style: Int, shape: Int) -> Double { Double(correct[style][shape].all) / Double(picturesPerPair) }

    /// The pair with the lowest all-heads accuracy (the first such pair in (style, shape) order).
    public var worst: (style: Int, shape: Int, accuracy: Double) {
        var best = (style: 0, shape: 0, accuracy: 2.0)
        for style in correct.indices {
            for shape in correct[style].indices where accuracy(style: style, shape: shape) < best.accuracy {
                best = (style, shape, accuracy(style: style, shape: shape))
            }
        }
        return best
    }

    /// The lowest per-pair accuracy of the style head and of the shape head alone.
    public var worstStyleAndShape: (style: Double, shape: Double) {
        let n = Double(picturesPerPair)
        let all = correct.flatMap { $0 }
        return (Double(all.map(\.style).min() ?? 0) / n, Double(all.map(\.shape).min() ?? 0) / n)
    }

    /// One line: the worst pair by name and the worst per-pair style and shape accuracies.
    public var summary: String {
        let w = worst
        func pct(_ v: Double) -> String { String(Double(Int((v * 10000).rounded())) / 100) + "%" }
        let heads = worstStyleAndShape
        return "worst (style, shape) pair: \(ToyConcepts.styles[w.style]) \(ToyConcepts.shapes[w.shape]) \(pct(w.accuracy)) "
            + "(all heads right; worst pair by style head \(pct(heads.style)), by shape head \(pct(heads.shape)); "
            + "\(picturesPerPair) pictures per pair)"
    }

    /// Scores `picturesPerPair` pictures of every (style, shape) pair, drawn by
    /// `ToyDataset.sample(shape:colour:style:index:)` of `dataset` with the colours in turn; with
    /// `augmentSeed`, the pictures are first degraded by `ToyImageAugmentation` (as generated ones are).
    public static func measure(
        _ model: ToyClassifier, dataset: ToyDataset, picturesPerPair: Int, augmentSeed: UInt64? = nil
    ) -> ToyClassifierPairAccuracy {
        let n = max(1, picturesPerPair)
        var correct = Array(
            repeating: Array(repeating: (shape: 0, colour: 0, style: 0, all: 0), count: ToyConcepts.shapes.count),
            count: ToyConcepts.styles.count)
        for style in ToyConcepts.styles.indices {
            let samples = ToyConcepts.shapes.indices.flatMap { shape in
                (0..<n).map { i in
                    dataset.sample(
                        shape: shape, colour: i % ToyConcepts.colours.count, style: style,
                        index: (style * ToyConcepts.shapes.count + shape) * n + i)
                }
            }
            var images = ToyDataset.tensor(samples.map(\.image))
            if let augmentSeed { images = ToyImageAugmentation.augment(images, seed: augmentSeed &+ UInt64(style)) }
            let pred = model.predict(images)
            for (k, s) in samples.enumerated() {
                let hits = (pred.shape[k] == s.shape, pred.colour[k] == s.colour, pred.style[k] == s.style)
                var c = correct[style][s.shape]
                c.shape += hits.0 ? 1 : 0
                c.colour += hits.1 ? 1 : 0
                c.style += hits.2 ? 1 : 0
                c.all += hits.0 && hits.1 && hits.2 ? 1 : 0
                correct[style][s.shape] = c
            }
        }
        return ToyClassifierPairAccuracy(picturesPerPair: n, correct: correct)
    }
}
