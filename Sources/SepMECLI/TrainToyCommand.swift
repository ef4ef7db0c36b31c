import ArgumentParser
import Foundation
import Toy

/// `sepme train-toy`: trains the embedded default model (text encoder + pixel-space UNet) from scratch.
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
    @Option(help: "Stop (and export) after this many minutes, even before --steps.") var timeLimit: Double?
    @Option(help: "Write the checkpoint and export the model every N steps.") var saveEvery: Int = 1000
    @Option(help: "Checkpoint file (default: <output>.checkpoint.safetensors).") var checkpoint: String?
    @Flag(help: "Continue from the checkpoint.") var resume = false
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive, got \(learningRate)") }
        guard (0..<1).contains(captionDropout) else { throw ValidationError("--caption-dropout must be in [0, 1), got \(captionDropout)") }
        guard (0..<1).contains(emaDecay) else { throw ValidationError("--ema-decay must be in [0, 1), got \(emaDecay)") }
        guard minSnrGamma >= 0, minSnrGamma.isFinite else { throw ValidationError("--min-snr-gamma must be 0 or positive, got \(minSnrGamma)") }
        guard saveEvery >= 1 else { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if let timeLimit, !(timeLimit > 0) { throw ValidationError("--time-limit must be positive, got \(timeLimit)") }
    }

    func run() throws {
        let destination = URL(fileURLWithPath: output).standardizedFileURL
        guard FileManager.default.fileExists(atPath: destination.deletingLastPathComponent().path) else {
            throw ValidationError("--output: folder \(destination.deletingLastPathComponent().path) does not exist")
        }
        let checkpointPath = checkpoint ?? destination.path + ".checkpoint.safetensors"
        var settings = ToyModelTraining.Settings()
        settings.steps = steps
        settings.batchSize = batchSize
        settings.learningRate = learningRate
        settings.captionDropout = captionDropout
        settings.emaDecay = emaDecay
        settings.minSNRGamma = minSnrGamma
        settings.seed = seed
        let trainer = try ToyModelTraining(settings: settings)
        if resume {
            guard FileManager.default.fileExists(atPath: checkpointPath) else {
                throw ValidationError("--resume: no checkpoint at \(checkpointPath)")
            }
            try trainer.loadCheckpoint(path: checkpointPath)
        }
        let bar = ProgressBar("train-toy", quiet: quiet, startingAt: trainer.step)
        let firstStep = trainer.step
        bar.message("text encoder \(trainer.textEncoder.parameterCount) parameters, UNet \(trainer.unet.parameterCount); from step \(trainer.step)")
        Interrupt.install()
        let start = Date()
        var average: Float = 0
        let secondsBefore = trainer.secondsTrained
        func export(reason: String) throws {
            trainer.secondsTrained = secondsBefore + Date().timeIntervalSince(start)
            try trainer.saveCheckpoint(path: checkpointPath)
            let (text, unet) = try trainer.emaModels()
            let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
            try ToyModelFolder.write(text: text, unet: unet, architecture: settings.architecture, to: destination, metadata: [
                "sepme_train_toy": json, "steps_done": String(trainer.step), "stop_reason": reason,
                "final_loss_ema": String(average),
                "training_minutes": String(format: "%.1f", trainer.secondsTrained / 60),
            ])
            bar.message("step \(trainer.step): wrote \(destination.path) (EMA weights) and \(checkpointPath) [\(reason)]")
        }
        while trainer.step < steps {
            let loss = trainer.trainStep()
            guard loss.isFinite else {
                throw ValidationError("loss became \(loss) at step \(trainer.step); the last checkpoint at \(checkpointPath) is kept")
            }
            average = trainer.step == firstStep + 1 ? loss : 0.99 * average + 0.01 * loss
            let minutes = Date().timeIntervalSince(start) / 60
            bar.update(trainer.step, steps, suffix: String(format: "loss %.4f  %.1f min", average, minutes))
            if Interrupt.requested { try export(reason: "interrupted"); return }
            if let timeLimit, minutes >= timeLimit { try export(reason: "time limit"); return }
            if trainer.step % saveEvery == 0 && trainer.step < steps { try export(reason: "periodic") }
        }
        try export(reason: "completed")
    }
}
