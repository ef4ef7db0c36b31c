import ArgumentParser
import Foundation
import ImageIO
import Toy

/// `sepme toy-vocab`: writes the toy text encoder's BPE tokenizer folder.
struct ToyVocabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toy-vocab",
        abstract: "Write the toy model's BPE tokenizer folder (vocab.json, merges.txt, configs; CLIP format).")

    @Option(help: "Output folder (created if missing).") var output: String
    @Option(help: "Also write the tokenizer fixture's caption list here (one caption per line).") var listCaptions: String?

    func validate() throws {
        try FlagCheck.nonEmpty("--output", output)
        if let listCaptions { try FlagCheck.nonEmpty("--list-captions", listCaptions) }
    }

    func run() throws {
        try CommandFailure.reporting {
            let vocabulary = ToyVocabulary.trained()
            try vocabulary.write(folder: output)
            if let listCaptions {
                try AtomicFile.write(ToyCaption.coveringCaptions().joined(separator: "\n") + "\n", to: listCaptions)
            }
            print(
                "wrote \(output): \(vocabulary.tokens.count) tokens, \(vocabulary.merges.count) merges, "
                    + "\(ToyCaption.words().count) caption words")
        }
    }
}

/// `sepme toy-samples`: a contact sheet of toy data set pictures with their captions.
struct ToySamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toy-samples",
        abstract: "Draw toy data set samples into one PNG (and print their captions).")

    /// The sheet is at most this many pixels wide and high (what sepme's PNG reader accepts).
    static let maxSheetSide = 16384
    static let tile = ToyConcepts.imageSize, gap = 2
    /// Pictures per row and rows that fit a sheet of `maxSheetSide`.
    static var maxColumns: Int { (maxSheetSide + gap) / (tile + gap) }

    @Option(help: "Data set seed.") var seed: UInt64 = 0
    @Option(help: "First sample index.") var start: Int = 0
    @Option(help: "Number of samples.") var count: Int = 64
    @Option(help: "Samples per row.") var columns: Int = 8
    @Option(help: "Output PNG file.") var output: String
    @Flag(
        help:
            "Draw every (style, shape) pair instead: one row per style, one column per shape, colours in turn (ignores --start, --count, --columns).")
    var grid = false

    func validate() throws {
        try FlagCheck.range("--columns", columns, 1...Self.maxColumns)
        try FlagCheck.range("--count", count, 1...(Self.maxColumns * columns))
        try FlagCheck.range("--start", start, 0...(Int.max - count))
        try FlagCheck.suffix("--output", output, ".png")
    }

    func run() throws {
        try CommandFailure.reporting {
            try OutputPath.checkWritable("--output", output)
            let data = ToyDataset(seed: seed)
            if grid { return try drawGrid(data) }
            // Each picture goes into the sheet as it is drawn; only the captions are kept.
            var sheet = ContactSheet(
                count: count, columns: columns, tileWidth: Self.tile, tileHeight: Self.tile,
                gap: Self.gap, background: 128)
            var captions: [String] = []
            captions.reserveCapacity(count)
            for i in 0..<count {
                let sample = data.sample(index: start + i)
                sheet.place(sample.image, at: i)
                captions.append(sample.caption)
            }
            try PNG.write(sheet.image, to: output)
            for (i, caption) in captions.enumerated() { print("\(start + i)\t\(caption)") }
        }
    }

    /// The (style, shape) grid: row r is style r, column c shape c, in colour (r + c) mod 7.
    private func drawGrid(_ data: ToyDataset) throws {
        let shapes = ToyConcepts.shapes.count
        let styles = ToyConcepts.styles.count
        var sheet = ContactSheet(
            count: shapes * styles, columns: shapes, tileWidth: Self.tile, tileHeight: Self.tile, gap: Self.gap, background: 128)
        for style in 0..<styles {
            for shape in 0..<shapes {
                let colour = (style + shape) % ToyConcepts.colours.count
                let sample = data.sample(shape: shape, colour: colour, style: style, index: style * shapes + shape)
                sheet.place(sample.image, at: style * shapes + shape)
            }
        }
        try PNG.write(sheet.image, to: output)
        print("rows (styles): " + ToyConcepts.styles.joined(separator: ", "))
        print("columns (shapes): " + ToyConcepts.shapes.joined(separator: ", "))
    }
}

/// `sepme train-classifier`: trains the toy attribute classifier and reports its test accuracy.
struct TrainClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-classifier",
        abstract: "Train the toy attribute classifier (shape, colour, style, watermark) on fresh procedural batches.")

    @Option(help: "Output .safetensors file.") var output: String
    @Option(help: "Training steps (one fresh batch each; the bundled classifier: 8000).") var steps: Int = 8000
    @Option(help: "Batch size.") var batchSize: Int = 64
    @Option(help: "Peak learning rate (Adam).") var learningRate: Float = 2e-3
    @Option(help: "Seed of the weights and of the training data.") var seed: UInt64 = 0
    @Option(help: "Channels of the first convolution.") var width: Int = 32
    @Option(help: "Test samples (from a different data seed).") var testCount: Int = 4096
    @Option(help: "Test pictures per (style, shape) pair for the per-pair accuracy.") var pairCount: Int = 32
    @Flag(help: "Train on clean pictures only (default: also on noisy, blurred, tone-shifted ones, as generated images are).") var noAugment = false
    @OptionGroup var verbosity: QuietOption

    static let maxSteps = 100_000_000
    static let maxBatchSize = 4096
    static let maxTestCount = 1_000_000
    /// Pictures of one style, every shape, are scored in one batch.
    static let maxPairCount = 256

    func validate() throws {
        try FlagCheck.suffix("--output", output, ".safetensors")
        try FlagCheck.range("--steps", steps, 1...Self.maxSteps)
        try FlagCheck.range("--batch-size", batchSize, 1...Self.maxBatchSize)
        try FlagCheck.range("--width", width, 1...1024)
        try FlagCheck.finite("--learning-rate", learningRate, above: 0, atMost: 10)
        try FlagCheck.range("--test-count", testCount, 1...Self.maxTestCount)
        try FlagCheck.range("--pair-count", pairCount, 1...Self.maxPairCount)
        // The widest training batch: pictures and the first convolution's activations with their graph.
        try FlagCheck.memory(
            "--batch-size \(batchSize) with --width \(width)",
            bytes: Double(batchSize) * Double(ToyConcepts.imageSize * ToyConcepts.imageSize) * 4 * (3 + Double(width) * 8))
    }

    /// The test data seed for training seed `seed`: a different stream than any training batch.
    static func testSeed(_ seed: UInt64) -> UInt64 { seed ^ 0x7E57_7E57_7E57_7E57 }

    func run() throws { try CommandFailure.reporting { try train() } }

    private func train() throws {
        try OutputPath.checkWritable("--output", output)
        var settings = ToyClassifierTraining.Settings()
        settings.steps = steps
        settings.batchSize = batchSize
        settings.learningRate = learningRate
        settings.seed = seed
        settings.width = width
        settings.augment = !noAugment
        let bar = ProgressBar("training", quiet: verbosity.quiet)
        Interrupt.install()
        var average: Float = 0
        let model = ToyClassifierTraining.train(settings: settings) { step, total, loss in
            average = step == 1 ? loss : 0.98 * average + 0.02 * loss
            bar.update(step, total, suffix: String(format: "loss %.4f", average))
            return !Interrupt.requested
        }
        let accuracy = ToyClassifierTraining.evaluate(model, dataset: ToyDataset(seed: Self.testSeed(seed)), count: testCount)
        let pairs = ToyClassifierPairAccuracy.measure(model, dataset: ToyDataset(seed: Self.testSeed(seed)), picturesPerPair: pairCount)
        try model.save(
            path: output,
            extraMetadata: [
                "training": "steps=\(steps) batch_size=\(batchSize) learning_rate=\(learningRate) seed=\(seed) augment=\(!noAugment)",
                "test_accuracy": accuracy.description,
                "pair_accuracy": pairs.summary
            ])
        print("test accuracy: \(accuracy)")
        print("per pair: \(pairs.summary)")
        print("wrote \(output) (\(model.parameterCount) parameters)")
    }
}
