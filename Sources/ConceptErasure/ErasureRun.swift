import Foundation
import TensorEngine

/// One erasure from a plan to files: checks and locks the output folder, runs the plan's method,
/// and writes one `<slug>.sepme.safetensors` per concept (each atomically). Nothing is written
/// before every input has been checked; an interrupted run leaves a checkpoint that `resume`
/// continues bit-identically.
public struct ErasureRun {
    public let plan: ErasurePlan
    public let output: URL
    public let resume: Bool
    public let checkpoints: CheckpointPolicy
    /// Precision of the original model's gradient-free predictions in SepME's training loop
    /// (`PrecisionMode`); the model being trained stays fp32.
    public let originalPrecision: ComputePrecision

    public init(
        plan: ErasurePlan, output: URL, resume: Bool = false, checkpoints: CheckpointPolicy = CheckpointPolicy(),
        originalPrecision: ComputePrecision = .fp32
    ) {
        self.originalPrecision = originalPrecision
        self.plan = plan
        self.output = output
        self.resume = resume
        self.checkpoints = checkpoints
    }

    /// The path each concept's shift is written to, in plan order.
    public var shiftPaths: [String] { plan.concepts.map { output.appendingPathComponent(ErasurePlan.shiftFileName($0)).path } }

    /// Runs the plan on `model`; returns the paths written, in concept order.
    @discardableResult
    public func run(on model: ShiftSet, observer: ErasureObserver = ErasureObserver()) throws -> [String] {
        try plan.method.implementation.check(plan: plan, model: model)
        try OutputFolder.prepare(output)
        let lock = try OutputFolder.Lock(folder: output)
        defer { lock.release() }
        let context = ErasureContext(
            directory: output, resume: resume, checkpoints: checkpoints, observer: observer, originalPrecision: originalPrecision)
        // Training starts from the base model: shifts installed on `model` are set aside meanwhile.
        let shifts = try model.withTrainingWeights([]) {
            try plan.method.implementation.erase(plan: plan, model: model, context: context)
        }
        var written: [String] = []
        for (shift, path) in zip(shifts, shiftPaths) {
            try shift.write(to: path)
            written.append(path)
            let t = shift.metadata.training
            let how =
                t.stopReason == .closedForm
                ? "closed form" : "\(t.iterations) iterations, \(t.stopReason.rawValue.replacingOccurrences(of: "_", with: " "))"
            observer.message("wrote \(path) (\(how))")
        }
        return written
    }
}
