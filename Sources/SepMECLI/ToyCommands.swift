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

    func run() throws {
        let vocabulary = ToyVocabulary.trained()
        try vocabulary.write(folder: output)
        if let listCaptions {
            try AtomicFile.write(ToyCaption.coveringCaptions().joined(separator: "\n") + "\n", to: listCaptions)
        }
        print("wrote \(output): \(vocabulary.tokens.count) tokens, \(vocabulary.merges.count) merges, "
              + "\(ToyCaption.words().count) caption words")
    }
}

/// `sepme toy-samples`: a contact sheet of toy data set pictures with their captions.
struct ToySamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toy-samples",
        abstract: "Draw toy data set samples into one PNG (and print their captions).")

    @Option(help: "Data set seed.") var seed: UInt64 = 0
    @Option(help: "First sample index.") var start: Int = 0
    @Option(help: "Number of samples.") var count: Int = 64
    @Option(help: "Samples per row.") var columns: Int = 8
    @Option(help: "Output PNG file.") var output: String

    func validate() throws {
        guard count >= 1, columns >= 1, start >= 0 else { throw ValidationError("--count and --columns must be >= 1, --start >= 0") }
        guard output.lowercased().hasSuffix(".png") else { throw ValidationError("--output must be a .png file, got \(output)") }
    }

    func run() throws {
        let data = ToyDataset(seed: seed)
        let samples = (start..<(start + count)).map { data.sample(index: $0) }
        try PNG.write(RGBImage.grid(samples.map(\.image), columns: columns, gap: 2, background: 128), to: output)
        for (i, s) in samples.enumerated() { print("\(start + i)\t\(s.caption)") }
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
    @Option(help: "Channels of the first convolution.") var width: Int = 24
    @Option(help: "Test samples (from a different data seed).") var testCount: Int = 4096
    @Flag(help: "Train on clean pictures only (default: also on noisy, blurred, tone-shifted ones, as generated images are).") var noAugment = false
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        guard output.lowercased().hasSuffix(".safetensors") else { throw ValidationError("--output must be a .safetensors file, got \(output)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard (1...1024).contains(width) else { throw ValidationError("--width must be in 1...1024, got \(width)") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive, got \(learningRate)") }
        guard testCount >= 1 else { throw ValidationError("--test-count must be at least 1, got \(testCount)") }
    }

    /// The test data seed for training seed `seed`: a different stream than any training batch.
    static func testSeed(_ seed: UInt64) -> UInt64 { seed ^ 0x7E57_7E57_7E57_7E57 }

    func run() throws {
        let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory) else {
            throw ValidationError("--output: folder \(directory) does not exist")
        }
        var settings = ToyClassifierTraining.Settings()
        settings.steps = steps
        settings.batchSize = batchSize
        settings.learningRate = learningRate
        settings.seed = seed
        settings.width = width
        settings.augment = !noAugment
        let bar = ProgressBar("training", quiet: quiet)
        Interrupt.install()
        var average: Float = 0
        let model = ToyClassifierTraining.train(settings: settings) { step, total, loss in
            average = step == 1 ? loss : 0.98 * average + 0.02 * loss
            bar.update(step, total, suffix: String(format: "loss %.4f", average))
            return !Interrupt.requested
        }
        let accuracy = ToyClassifierTraining.evaluate(model, dataset: ToyDataset(seed: Self.testSeed(seed)), count: testCount)
        try model.save(path: output, extraMetadata: [
            "training": "steps=\(steps) batch_size=\(batchSize) learning_rate=\(learningRate) seed=\(seed) augment=\(!noAugment)",
            "test_accuracy": accuracy.description,
        ])
        print("test accuracy: \(accuracy)")
        print("wrote \(output) (\(model.parameterCount) parameters)")
    }
}
