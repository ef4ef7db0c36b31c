import Diffusion
import Foundation
import TensorEngine

/// The fine-tuning loop the baselines ESD-x and CA share: one concept at a time from the base
/// model, Adam on a dense ΔW per cross-attention key and value projection (zero at the start, no
/// bias change), a fixed number of iterations, each method supplying only its per-iteration loss.
/// Every random draw of an iteration comes from `PyTorchGenerator(trainingSeed:concepts:iteration:)`,
/// seeded by (seed, concept, iteration), so a run resumed from its checkpoint continues bit-identically. Checkpoints follow
/// the run's policy and are always written on interruption or a non-finite loss.
struct DenseFineTuning {
    let plan: ErasurePlan
    let model: ShiftSet
    let context: ErasureContext

    /// What a method hands the loop for one concept.
    struct Run {
        let conceptIndex: Int
        let learningRate: Double
        let iterations: Int
        /// The loss of `iteration` with `weights` acting on the model (gradient history into them),
        /// or nil when the stop request came in part-way through the iteration.
        let loss: (_ iteration: Int) throws -> Tensor?
    }

    /// The trained shift weights of one concept and the record of its training.
    struct Result {
        let weights: ShiftWeights
        let record: TrainingRecord
    }

    /// Zero-initialised dense K/V deltas for `model`, the tensors a run trains.
    static func trainableWeights(model: ShiftSet) -> ShiftWeights {
        .trainable(projections: model.projections.keyValueProjections, basis: nil, beta: 1)
    }

    /// Trains `weights` (from `trainableWeights`) by `run`; `weights` act on the model during the loss.
    func train(
        _ run: Run, weights: ShiftWeights, trainingImages: Int = 0, imageSeeds: [UInt64] = [], imageSeconds: Double = 0
    ) throws -> Result {
        let concept = plan.concepts[run.conceptIndex]
        let optimizer = Adam(parameters: weights.trainableTensors, learningRate: Float(run.learningRate))
        var state = TrainingCheckpoint.State(plan: plan, concepts: [concept])
        let checkpoint = TrainingCheckpoint(
            url: context.directory.appendingPathComponent(
                ".sepme-checkpoint-\(plan.method.rawValue)-\(ConceptShift.slug(concept)).safetensors"))
        if context.resume {
            if let restored = try checkpoint.load(expected: state, weights: [weights], optimizer: optimizer) {
                state = restored
                context.observer.message("\(concept): resuming from iteration \(state.iteration) (\(checkpoint.url.path))")
            } else {
                context.observer.message("\(concept): no checkpoint to resume in \(context.directory.path); starting from iteration 0")
            }
        }
        let started = Date()
        let secondsAtStart = state.secondsBefore
        var lastSave = Date()
        func save() throws {
            state.secondsBefore = secondsAtStart + Date().timeIntervalSince(started)
            try checkpoint.save(state, weights: [weights], optimizer: optimizer)
            lastSave = Date()
        }
        try model.withTrainingWeights([weights]) {
            while state.iteration < run.iterations {
                let it = state.iteration
                guard !context.observer.shouldStop(), let loss = try run.loss(it) else {
                    try save()
                    throw ErasureError.interrupted(checkpoint: checkpoint.url.path)
                }
                let value = Double(loss.item)
                guard value.isFinite else {
                    try save()
                    throw ErasureError.nonFiniteLoss(concept: concept, iteration: it + 1, checkpoint: checkpoint.url.path)
                }
                loss.backward()
                optimizer.update()
                optimizer.zeroGrad()
                state.curves[0].append(value)
                state.iteration = it + 1
                context.observer.iteration(concept, state.iteration, value, nil)
                let p = context.checkpoints
                if state.iteration < run.iterations,
                    (p.iterations > 0 && state.iteration % p.iterations == 0)
                        || (p.seconds > 0 && Date().timeIntervalSince(lastSave) >= p.seconds)
                {
                    try save()
                }
            }
        }
        let curve = state.curves[0]
        let stride = max(1, curve.count / 200)
        let record = TrainingRecord(
            iterations: state.iteration, initialLoss: curve.first, finalLoss: curve.last, stopReason: .maxIterations,
            lossCurve: Swift.stride(from: 0, to: curve.count, by: stride).map { curve[$0] }, lossStride: stride,
            seconds: secondsAtStart + Date().timeIntervalSince(started), trainingImages: trainingImages, imageSeeds: imageSeeds,
            imageSeconds: imageSeconds)
        checkpoint.remove()
        return Result(weights: weights.detachedCopy(), record: record)
    }

    /// The shift of concept k: dense K/V deltas, not restorable (a dense ΔW trained on the whole
    /// model is not decoupled from anything), the method's learning rate and iteration count in the
    /// recorded hyper-parameters; the caller sets the method's settings in the metadata.
    func shift(conceptAt k: Int, result: Result, learningRate: Double, iterations: Int, configure: (inout ShiftMetadata) -> Void)
        -> ConceptShift
    {
        var h = plan.hyperparameters
        h.learningRate = learningRate
        h.maxIterations = iterations
        var metadata = ShiftMetadata(
            variant: .separate, concepts: plan.prompts(ofConceptAt: k), protectedPrompts: [], decoupledFrom: [],
            baseFingerprint: model.fingerprint, hyperparameters: h, training: result.record, nullSpace: nil,
            restorable: false, toolVersion: SepMEInfo.version)
        metadata.method = plan.method
        configure(&metadata)
        return ConceptShift(metadata: model.recordingModel(in: metadata), weights: result.weights)
    }

    /// An integer drawn uniformly from low..<high (low when the range is empty).
    static func draw(_ g: inout PyTorchGenerator, _ low: Int, _ high: Int) -> Int {
        guard high > low else { return low }
        return Int((try? g.randint(low: Int64(low), high: Int64(high), count: 1))?.first ?? Int64(low))
    }

    /// The mean squared error of two equal-shape tensors (torch.nn.MSELoss, mean reduction). []
    static func meanSquaredError(_ a: Tensor, _ b: Tensor) -> Tensor { (a - b).square().mean() }
}
