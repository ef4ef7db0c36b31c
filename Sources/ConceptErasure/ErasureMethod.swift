import Foundation
import TensorEngine

/// One erasure method: turns a plan into one shift per concept on a model. SepME is one
/// (`SepMEMethod`); a baseline (ESD, UCE, concept ablation) is another conforming type plus a case
/// of `ErasureMethodKind`. Methods get everything else (checkpoints, training images, progress,
/// interruption) from the context, and never write shift files themselves (`ErasureRun` does).
protocol ErasureMethod {
    /// Checks the plan against the model before anything is written (e.g. the sampling settings
    /// of training images against the model's scheduler).
    func check(plan: ErasurePlan, model: ShiftSet) throws
    /// Trains the concepts of `plan` at the plan indices `concepts` (ascending) on `model`; returns
    /// one shift per index, in that order. A subset is only asked for when the plan trains its
    /// concepts independently (`ErasurePlan.trainsConceptsIndependently`), and each of its shifts
    /// must then be bit-identical to the same concept's shift from a run of the whole plan.
    func erase(plan: ErasurePlan, concepts: [Int], model: ShiftSet, context: ErasureContext) throws -> [ConceptShift]
}

/// Callbacks for progress and interruption of an erasure (all optional).
public struct ErasureObserver {
    public var message: (String) -> Void
    /// (concept, images done, total)
    public var images: (String, Int, Int) -> Void
    /// (concept, iteration, loss, momentum)
    public var iteration: (String, Int, Double, Double?) -> Void
    /// Polled between images, denoising steps and iterations; true stops the run (after a checkpoint).
    public var shouldStop: () -> Bool

    public init(
        message: @escaping (String) -> Void = { _ in }, images: @escaping (String, Int, Int) -> Void = { _, _, _ in },
        iteration: @escaping (String, Int, Double, Double?) -> Void = { _, _, _, _ in },
        shouldStop: @escaping () -> Bool = { false }
    ) {
        self.message = message
        self.images = images
        self.iteration = iteration
        self.shouldStop = shouldStop
    }
}

/// When a training run writes its checkpoint: every `iterations` iterations and every `seconds`
/// seconds (0 turns a trigger off), and always when it is interrupted or its loss fails.
public struct CheckpointPolicy: Sendable, Equatable {
    public let iterations: Int
    public let seconds: Double

    public init(iterations: Int = 25, seconds: Double = 60) {
        self.iterations = iterations
        self.seconds = seconds
    }

    /// No periodic checkpoints (tests; interruption still writes one).
    public static let onInterruption = CheckpointPolicy(iterations: 0, seconds: 0)
}

/// What a method gets from the run besides the plan and the model.
struct ErasureContext {
    /// The output folder: checkpoints and the training-image cache live there.
    let directory: URL
    let resume: Bool
    let checkpoints: CheckpointPolicy
    let observer: ErasureObserver
    /// Precision of the original model's gradient-free predictions while training (SepME).
    var originalPrecision: ComputePrecision = .fp32

    var imageCache: URL { directory.appendingPathComponent(".sepme-cache") }
}
