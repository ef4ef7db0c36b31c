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
    /// The one plan index this run trains (`sepme erase --plan FILE --index N`), or nil for all.
    public let index: Int?
    /// Precision of the original model's gradient-free predictions in SepME's training loop
    /// (`PrecisionMode`); the model being trained stays fp32.
    public let originalPrecision: ComputePrecision

    public init(
        plan: ErasurePlan, output: URL, resume: Bool = false, checkpoints: CheckpointPolicy = CheckpointPolicy(), index: Int? = nil,
        originalPrecision: ComputePrecision = .fp32
    ) {
        self.originalPrecision = originalPrecision
        self.plan = plan
        self.output = output
        self.resume = resume
        self.checkpoints = checkpoints
        self.index = index
    }

    /// The plan indices this run trains.
    public var conceptIndices: [Int] { index.map { [$0] } ?? Array(plan.concepts.indices) }

    /// The path each concept's shift is written to, in plan order.
    public var shiftPaths: [String] { plan.concepts.map { output.appendingPathComponent(ErasurePlan.shiftFileName($0)).path } }

    /// Runs the plan on `model`; returns the paths written (or, for an index already done, found),
    /// in concept order. One index of a plan: its checkpoint is resumed when there is one, and a
    /// shift already written for it by this plan and model is kept as it is.
    @discardableResult
    public func run(on model: ShiftSet, observer: ErasureObserver = ErasureObserver()) throws -> [String] {
        if let index {
            guard plan.concepts.indices.contains(index) else {
                throw ErasureError.invalidPlan(
                    field: "index", reason: "index \(index) is outside the plan's concepts 0...\(plan.concepts.count - 1)")
            }
            guard plan.trainsConceptsIndependently else {
                throw ErasureError.invalidPlan(
                    field: "index",
                    reason: "the variant '\(plan.variant.rawValue)' trains all concepts together, so they cannot be trained one index at a time")
            }
        }
        try plan.method.implementation.check(plan: plan, model: model)
        try OutputFolder.prepare(output)
        let lock = try OutputFolder.Lock(folder: output, name: index.map { ".sepme-lock-\(ConceptShift.slug(plan.concepts[$0]))" })
        defer { lock.release() }
        if let index, let done = try finishedShift(index: index, model: model) {
            observer.message("\(plan.concepts[index]): already erased by this plan (\(done)); nothing to do")
            return [done]
        }
        let context = ErasureContext(
            directory: output, resume: resume || index != nil, checkpoints: checkpoints, observer: observer,
            originalPrecision: originalPrecision)
        let indices = conceptIndices
        // Training starts from the base model: shifts installed on `model` are set aside meanwhile.
        let shifts = try model.withTrainingWeights([]) {
            try plan.method.implementation.erase(plan: plan, concepts: indices, model: model, context: context)
        }
        var written: [String] = []
        for (shift, k) in zip(shifts, indices) {
            let path = shiftPaths[k]
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

    /// The shift file of plan index `k` when it is already there, made by this plan on this model;
    /// nil when there is none. A file made otherwise is an error rather than overwritten.
    private func finishedShift(index k: Int, model: ShiftSet) throws -> String? {
        let path = shiftPaths[k]
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let shift = try ConceptShift.read(path: path)
        guard shift.metadata.baseFingerprint == model.fingerprint else {
            throw ErasureError.fingerprintMismatch(path: path, expected: model.fingerprint, found: shift.metadata.baseFingerprint)
        }
        guard shift.metadata.method == plan.method, shift.metadata.concepts == plan.prompts(ofConceptAt: k) else {
            throw ErasureError.output(
                path: path,
                reason:
                    "holds a shift of another erasure (\(shift.metadata.method.rawValue), concepts \(shift.metadata.concepts)); move it away or use another output folder"
            )
        }
        return path
    }
}
