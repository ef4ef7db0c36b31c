import ImageIO
import Toy

/// The original model's images of every prompt of a benchmark grid, the classifier's reading of
/// each (its predictions and features), and the per-concept accuracy they give. Made once per
/// benchmark and shared by every target and, in a comparison of methods, by every method: they
/// depend on the model, the grid and the sampling settings, not on the erasure.
public struct BenchmarkOriginals {
    /// Images by prompt, one per seed.
    public let images: [String: [RGBImage]]
    /// The classifier's reading of each prompt's images: predictions and features.
    let readings: [String: (ToyClassifier.Predictions, [[Double]])]
    public let accuracy: BenchmarkOriginalAccuracy
    /// The sampling settings and grid the images were made with (what a sharer must match).
    public let key: Key

    /// What the images depend on.
    public struct Key: Equatable, Sendable {
        var shapes: [String]
        var styles: [String]
        var colours: [String]
        var templateSets: [String]
        var seedsPerPrompt: Int
        var seed: UInt64
        var steps: Int
        var guidance: Float
        var scheduler: String?

        init(_ s: BenchmarkSettings) {
            shapes = s.gridShapes
            styles = s.gridStyles
            colours = s.gridColours
            templateSets = s.templateSets
            seedsPerPrompt = s.seedsPerPrompt
            seed = s.seed
            steps = s.steps
            guidance = s.guidance
            scheduler = s.scheduler?.rawValue
        }
    }

    /// Generates and classifies the union of every template set's grid with the original model.
    // The grid of `labels` on each of `sets`; images [prompts][seeds].
    static func make(
        evaluator: ConceptEvaluator, sets: [ToyTemplateSet], labels: (shapes: [Int], styles: [Int], colours: [Int]), key: Key
    ) throws -> BenchmarkOriginals {
        let grids = sets.map {
            ($0, BenchmarkPromptGrid.union(templateSet: $0, shapes: labels.shapes, styles: labels.styles, colours: labels.colours))
        }
        let prompts = grids.flatMap(\.1)
        let generated = try evaluator.generate(try prompts.map { try EvaluationPrompt($0.prompt) }, shifts: [], label: "original")
        var images: [String: [RGBImage]] = [:]
        var readings: [String: (ToyClassifier.Predictions, [[Double]])] = [:]
        for (p, im) in zip(prompts, generated) {
            images[p.prompt] = im
            readings[p.prompt] = evaluator.classify(im)
        }
        let accuracy = try BenchmarkOriginalAccuracy(grids: grids.map { (set: $0.0, prompts: $0.1) }, readings: readings.mapValues(\.0))
        return BenchmarkOriginals(images: images, readings: readings, accuracy: accuracy, key: key)
    }

    /// The original images of a grid prompt, `count` of them.
    func images(of prompt: String, count: Int) throws -> [RGBImage] {
        guard let before = images[prompt], before.count == count else {
            throw EvaluationError.invalidPrompts("no original images for '\(prompt)'")
        }
        return before
    }
}
