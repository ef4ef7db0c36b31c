import Foundation

/// Drives `ToyModelTraining` to its step count: one training step at a time, the checkpoint and the
/// exported EMA model written every `saveEvery` steps and when the run ends (completed, time limit
/// or a stop request), a non-finite loss refused with the last checkpoint kept.
/// The caller supplies the stop request (`shouldStop`, polled after every step) and the progress
/// display (`progress`, `log`); nothing here reads flags or signals.
public final class ToyModelTrainingRun {
    /// Why the model was exported.
    public enum ExportReason: String, Sendable {
        case periodic, completed, interrupted
        case timeLimit = "time limit"
    }

    /// After each training step.
    public struct Progress: Sendable {
        public let step: Int
        public let totalSteps: Int
        /// Exponential moving average of the loss (decay 0.99) over this run's steps.
        public let averageLoss: Float
        /// Wall-clock minutes of this run (not counting resumed-from runs).
        public let minutes: Double
    }

    public let trainer: ToyModelTraining
    /// The diffusers folder the EMA model is exported to (replaced atomically).
    public let destination: URL
    public let checkpointPath: String
    public let saveEvery: Int
    /// Stop and export after this many minutes of this run.
    public let timeLimitMinutes: Double?
    /// Polled after every step: true stops the run (after writing the checkpoint and the model).
    public var shouldStop: () -> Bool = { false }
    public var progress: (Progress) -> Void = { _ in }
    /// Human-readable lines (each export).
    public var log: (String) -> Void = { _ in }

    /// `resumeFrom`: a checkpoint written by an earlier run with the same settings (it holds every weight,
    /// so `settings.initialModel` is not read again).
    public init(
        settings: ToyModelTraining.Settings, destination: URL, checkpointPath: String, saveEvery: Int,
        timeLimitMinutes: Double?, resumeFrom: String?
    ) throws {
        guard saveEvery >= 1 else { throw ToyError("save interval \(saveEvery) must be at least 1 step") }
        if let t = timeLimitMinutes, !(t > 0 && t.isFinite) { throw ToyError("time limit \(t) minutes must be positive") }
        trainer = try ToyModelTraining(settings: settings, loadingInitialModel: resumeFrom == nil)
        if let resumeFrom { try trainer.loadCheckpoint(path: resumeFrom) }
        self.destination = destination
        self.checkpointPath = checkpointPath
        self.saveEvery = saveEvery
        self.timeLimitMinutes = timeLimitMinutes
    }

    /// Trains until `settings.steps`, the time limit or a stop request; returns why it ended.
    @discardableResult
    public func run() throws -> ExportReason {
        let steps = trainer.settings.steps
        let firstStep = trainer.step
        let start = Date()
        let secondsBefore = trainer.secondsTrained
        var average: Float = 0
        func export(_ reason: ExportReason) throws {
            trainer.secondsTrained = secondsBefore + Date().timeIntervalSince(start)
            try trainer.saveCheckpoint(path: checkpointPath)
            let (text, unet) = try trainer.emaModels()
            let json = String(decoding: try JSONEncoder().encode(trainer.settings), as: UTF8.self)
            try ToyModelFolder.write(
                text: text, unet: unet, architecture: trainer.settings.architecture, to: destination,
                metadata: [
                    "sepme_train_toy": json, "steps_done": String(trainer.step), "stop_reason": reason.rawValue,
                    "final_loss_ema": String(average),
                    "training_minutes": String(format: "%.1f", trainer.secondsTrained / 60)
                ])
            log("step \(trainer.step): wrote \(destination.path) (EMA weights) and \(checkpointPath) [\(reason.rawValue)]")
        }
        while trainer.step < steps {
            let loss = trainer.trainStep()
            guard loss.isFinite else {
                throw ToyError("loss became \(loss) at step \(trainer.step); the last checkpoint at \(checkpointPath) is kept")
            }
            average = trainer.step == firstStep + 1 ? loss : 0.99 * average + 0.01 * loss
            let minutes = Date().timeIntervalSince(start) / 60
            progress(Progress(step: trainer.step, totalSteps: steps, averageLoss: average, minutes: minutes))
            if shouldStop() {
                try export(.interrupted)
                return .interrupted
            }
            if let timeLimitMinutes, minutes >= timeLimitMinutes {
                try export(.timeLimit)
                return .timeLimit
            }
            if trainer.step % saveEvery == 0 && trainer.step < steps { try export(.periodic) }
        }
        try export(.completed)
        return .completed
    }
}
