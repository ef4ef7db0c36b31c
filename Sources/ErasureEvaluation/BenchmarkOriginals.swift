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
    public struct Key: Codable, Equatable, Sendable {
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

    /// The union of every template set's grid over `labels`, set by set.
    static func grids(sets: [ToyTemplateSet], labels: (shapes: [Int], styles: [Int], colours: [Int])) -> [(
        set: ToyTemplateSet, prompts: [BenchmarkPromptGrid.Prompt]
    )] {
        sets.map {
            (set: $0, prompts: BenchmarkPromptGrid.union(templateSet: $0, shapes: labels.shapes, styles: labels.styles, colours: labels.colours))
        }
    }

    /// Generates and classifies the union of every template set's grid with the original model.
    // The grid of `labels` on each of `sets`; images [prompts][seeds].
    static func make(
        evaluator: ConceptEvaluator, sets: [ToyTemplateSet], labels: (shapes: [Int], styles: [Int], colours: [Int]), key: Key
    ) throws -> BenchmarkOriginals {
        let grids = grids(sets: sets, labels: labels)
        let prompts = grids.flatMap(\.prompts)
        let generated = try evaluator.generate(try prompts.map { try EvaluationPrompt($0.prompt) }, shifts: [], label: "original")
        var images: [String: [RGBImage]] = [:]
        for (p, im) in zip(prompts, generated) { images[p.prompt] = im }
        return try classified(images, evaluator: evaluator, grids: grids, key: key)
    }

    /// Originals from images made earlier (`BenchmarkOriginalsFile`): the classifier reads them again.
    static func classified(
        _ images: [String: [RGBImage]], evaluator: ConceptEvaluator,
        grids: [(set: ToyTemplateSet, prompts: [BenchmarkPromptGrid.Prompt])], key: Key
    ) throws -> BenchmarkOriginals {
        var readings: [String: (ToyClassifier.Predictions, [[Double]])] = [:]
        for p in grids.flatMap(\.prompts) {
            guard let im = images[p.prompt] else { throw EvaluationError.invalidPrompts("no original images for '\(p.prompt)'") }
            readings[p.prompt] = evaluator.classify(im)
        }
        let accuracy = try BenchmarkOriginalAccuracy(grids: grids, readings: readings.mapValues(\.0))
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
