import ArgumentParser
import Foundation
import Toy

/// `sepme train-toy`: trains the embedded default model (text encoder + pixel-space UNet) from scratch.
/// The loop, its checkpoints and exports are `ToyModelTrainingRun`'s; this reads the flags, shows
/// progress and turns Ctrl-C into the run's stop request.
struct TrainToyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-toy",
        abstract: "Train the embedded toy text-to-image model (CLIP text encoder + pixel UNet) and write it as a diffusers folder.")

    @Option(help: "Output model folder (replaced atomically when complete).") var output: String
    @Option(help: "Training steps (one fresh batch each).") var steps: Int = 12000
    @Option(help: "Batch size.") var batchSize: Int = 32
    @Option(help: "Peak learning rate (Adam; warm-up, then cosine decay to 10%).") var learningRate: Float = 1e-3
    @Option(help: "Caption dropout probability (classifier-free guidance).") var captionDropout: Double = 0.1
    @Option(help: "EMA decay of the exported weights.") var emaDecay: Float = 0.999
    @Option(help: "Min-SNR-gamma loss weighting (Hang et al. 2023); 0 = the plain DDPM loss.") var minSnrGamma: Float = 5
    @Option(help: "Seed of the weights and of the training data.") var seed: UInt64 = 0
    @Option(help: "Linear learning-rate warm-up, in steps.") var warmupSteps: Int = 200
    @Option(
        name: .customLong("from"),
        help:
            "Start from this toy model folder's weights instead of a fresh initialisation (continued training; use another --seed for unseen pictures)."
    )
    var initialModel: String?
    @Option(
        help: "STYLE=WEIGHT: draw this style's pictures in proportion to WEIGHT (others weigh 1); repeatable.")
    var styleWeight: [String] = []
    @Option(help: "Stop (and export) after this many minutes, even before --steps.") var timeLimit: Double?
    @Option(help: "Write the checkpoint and export the model every N steps.") var saveEvery: Int = 1000
    @Option(help: "Checkpoint file (default: <output>.checkpoint.safetensors).") var checkpoint: String?
    @Flag(help: "Continue from the checkpoint.") var resume = false
    @OptionGroup var verbosity: QuietOption

    static let maxSteps = 100_000_000
    static let maxBatchSize = 4096

    func validate() throws {
        try FlagCheck.nonEmpty("--output", output)
        try FlagCheck.range("--steps", steps, 1...Self.maxSteps)
        try FlagCheck.range("--batch-size", batchSize, 1...Self.maxBatchSize)
        try FlagCheck.finite("--learning-rate", learningRate, above: 0, atMost: 10)
        try FlagCheck.finite("--caption-dropout", captionDropout, 0..<1)
        try FlagCheck.finite("--ema-decay", emaDecay, 0..<1)
        try FlagCheck.finite("--min-snr-gamma", minSnrGamma, 0...1e6)
        try FlagCheck.atLeast("--save-every", saveEvery, 1)
        if let timeLimit { try FlagCheck.finite("--time-limit", timeLimit, above: 0, atMost: 1e7) }
        if let checkpoint { try FlagCheck.nonEmpty("--checkpoint", checkpoint) }
        try FlagCheck.range("--warmup-steps", warmupSteps, 0...Self.maxSteps)
        if let initialModel { try FlagCheck.nonEmpty("--from", initialModel) }
        _ = try styleWeights()
    }

    /// One weight per style from the --style-weight flags (1 where none is given); nil without any.
    func styleWeights() throws -> [Double]? {
        guard !styleWeight.isEmpty else { return nil }
        var weights = [Double](repeating: 1, count: ToyConcepts.styles.count)
        for item in styleWeight {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, let style = ToyConcepts.styles.firstIndex(of: parts[0]), let w = Double(parts[1]) else {
                throw ValidationError(
                    "--style-weight: \(item) is not STYLE=WEIGHT with STYLE one of \(ToyConcepts.styles.joined(separator: ", "))")
            }
            guard w.isFinite, w >= 0, w <= 1000 else { throw ValidationError("--style-weight: \(item): the weight must be in 0...1000") }
            weights[style] = w
        }
        guard weights.contains(where: { $0 > 0 }) else { throw ValidationError("--style-weight: every style weighs 0") }
        return weights
    }

    func run() throws {
        try CommandFailure.reporting {
            let destination = URL(fileURLWithPath: output).standardizedFileURL
            guard FileManager.default.fileExists(atPath: destination.deletingLastPathComponent().path) else {
                throw CommandLineError("--output: folder \(destination.deletingLastPathComponent().path) does not exist")
            }
            let checkpointPath = checkpoint ?? destination.path + ".checkpoint.safetensors"
            if resume, !FileManager.default.fileExists(atPath: checkpointPath) {
                throw CommandLineError("--resume: no checkpoint at \(checkpointPath)")
            }
            var settings = ToyModelTraining.Settings()
            settings.steps = steps
            settings.batchSize = batchSize
            settings.learningRate = learningRate
            settings.captionDropout = captionDropout
            settings.emaDecay = emaDecay
            settings.minSNRGamma = minSnrGamma
            settings.seed = seed
            settings.warmupSteps = warmupSteps
            settings.initialModel = try initialModel.map { path in
                // A resumed run takes every weight from its checkpoint; the folder may be gone.
                guard resume || FileManager.default.fileExists(atPath: path) else {
                    throw CommandLineError("--from: no model folder at \(path)")
                }
                return URL(fileURLWithPath: path).standardizedFileURL.path
            }
            settings.styleWeights = try styleWeights()
            let training = try ToyModelTrainingRun(
                settings: settings, destination: destination, checkpointPath: checkpointPath,
                saveEvery: saveEvery, timeLimitMinutes: timeLimit,
                resumeFrom: resume ? checkpointPath : nil)
            let trainer = training.trainer
            let bar = ProgressBar("train-toy", quiet: verbosity.quiet, startingAt: trainer.step)
            bar.message(
                "text encoder \(trainer.textEncoder.parameterCount) parameters, UNet \(trainer.unet.parameterCount); from step \(trainer.step)")
            Interrupt.install()
            training.shouldStop = { Interrupt.requested }
            training.progress = { p in
                bar.update(p.step, p.totalSteps, suffix: String(format: "loss %.4f  %.1f min", p.averageLoss, p.minutes))
            }
            training.log = { bar.message($0) }
            try training.run()
        }
    }
}
