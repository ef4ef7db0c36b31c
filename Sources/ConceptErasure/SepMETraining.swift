import Diffusion
import Foundation
import TensorEngine

/// The unlearning loop of SepME (method.md §2, Algorithm 1) for one group of concepts trained
/// together: per iteration a training latent per active concept, a random timestep and noise, the
/// objective, one Adam step on the trainable weights, and each concept's momentum stop rule.
/// Checkpoints follow the run's policy and are always written on interruption or a failed loss;
/// a resumed run continues bit-identically.
struct SepMETraining {
    let plan: ErasurePlan
    let model: ShiftSet
    let context: ErasureContext

    private var h: ErasureHyperparameters { plan.hyperparameters }

    func train(group: [Int], decouplings: [ConceptDecoupling?], latents: [TrainingLatents]) throws -> [ConceptShift] {
        let names = group.map { plan.concepts[$0] }
        let strategy = plan.variant.strategy
        let weights = decouplings.map {
            strategy.trainableWeights(projections: model.projections, basis: $0?.basis, beta: Float(h.beta))
        }
        let optimizer = Adam(parameters: weights.flatMap(\.trainableTensors), learningRate: Float(h.learningRate))
        var state = TrainingCheckpoint.State(plan: plan, concepts: names)
        let checkpoint = TrainingCheckpoint(
            url: context.directory.appendingPathComponent(
                ".sepme-checkpoint-\(plan.variant.rawValue)-\(ConceptShift.slug(names.joined(separator: "+"))).safetensors"))
        if context.resume {
            if let restored = try checkpoint.load(expected: state, weights: weights, optimizer: optimizer) {
                state = restored
                context.observer.message("\(names.joined(separator: ", ")): resuming from iteration \(state.iteration) (\(checkpoint.url.path))")
            } else {
                context.observer.message(
                    "\(names.joined(separator: ", ")): no checkpoint to resume in \(context.directory.path); starting from iteration 0")
            }
        }
        var rules = names.indices.map { i in
            var r = MomentumStopRule(alpha: h.alpha, tau: h.tau, minIterations: h.minIterations, maxIterations: h.maxIterations)
            r.restore(iterations: state.iterations[i], momentum: state.momenta[i])
            return r
        }
        let objective = SepMEObjective(model: model, variant: plan.variant, lambda: h.lambda)
        let blank = model.pipeline.encode(prompts: [""])
        let conds = names.map { model.pipeline.encode(prompts: [$0]) }
        let schedule = NoiseSchedule(model.pipeline.schedulerConfiguration)
        let started = Date()
        let secondsAtStart = state.secondsBefore
        var lastSave = Date()
        func save() throws {
            state.capture(rules)
            state.secondsBefore = secondsAtStart + Date().timeIntervalSince(started)
            try checkpoint.save(state, weights: weights, optimizer: optimizer)
            lastSave = Date()
        }
        try model.withTrainingWeights(weights) {
            while true {
                let active = names.indices.filter { state.stopReasons[$0] == nil }
                if active.isEmpty { break }
                if context.observer.shouldStop() {
                    try save()
                    throw ErasureError.interrupted(checkpoint: checkpoint.url.path)
                }
                let it = state.iteration
                // x_t for every active concept: its next x_0, a random training timestep, fresh noise.
                let x0 = Tensor.concat(active.map { latents[$0].latents[it % latents[$0].latents.count] }, axis: 0)
                let (t, noise) = SepMEObjective.iterationDraws(
                    seed: h.seed, concepts: names.joined(separator: "+"), iteration: it,
                    trainTimesteps: model.pipeline.schedulerConfiguration.numTrainTimesteps,
                    shape: x0.shape)
                let xt = schedule.addNoise(x0, noise: noise, timesteps: [Int](repeating: t, count: active.count))
                let value = objective(
                    xt: xt, timestep: t, conds: Tensor.concat(active.map { conds[$0] }, axis: 0),
                    blank: blank, weights: active.map { weights[$0] })
                guard value.loss.item.isFinite else {
                    try save()
                    throw ErasureError.nonFiniteLoss(
                        concept: active.map { names[$0] }.joined(separator: ", "),
                        iteration: it + 1, checkpoint: checkpoint.url.path)
                }
                value.loss.backward()
                for k in names.indices where !active.contains(k) { for p in weights[k].trainableTensors { p.grad = nil } }
                optimizer.update()
                optimizer.zeroGrad()
                state.iteration += 1
                // Each concept's stopping statistic, on its own Lcor and penalty.
                for (i, k) in active.enumerated() {
                    let lk = value.correlations[i] + h.lambda * value.penalties[i]
                    state.curves[k].append(lk)
                    switch rules[k].record(lk) {
                    case .converged: state.stopReasons[k] = .converged
                    case .reachedMaxIterations: state.stopReasons[k] = .maxIterations
                    case .continueTraining: break
                    }
                    context.observer.iteration(names[k], rules[k].iterations, lk, rules[k].momentum)
                }
                let p = context.checkpoints
                if (p.iterations > 0 && state.iteration % p.iterations == 0)
                    || (p.seconds > 0 && Date().timeIntervalSince(lastSave) >= p.seconds)
                {
                    try save()
                }
            }
        }
        let seconds = secondsAtStart + Date().timeIntervalSince(started)
        let shifts = names.indices.map { k in
            makeShift(
                conceptAt: group[k], weights: weights[k], decoupling: decouplings[k], rule: rules[k],
                curve: state.curves[k], stopReason: state.stopReasons[k] ?? .maxIterations,
                seconds: seconds, latents: latents[k])
        }
        checkpoint.remove()
        return shifts
    }

    private func makeShift(
        conceptAt k: Int, weights: ShiftWeights, decoupling: ConceptDecoupling?, rule: MomentumStopRule,
        curve: [Double], stopReason: StopReason, seconds: Double, latents: TrainingLatents
    ) -> ConceptShift {
        let stride = max(1, curve.count / 200)
        let compact = Swift.stride(from: 0, to: curve.count, by: stride).map { curve[$0] }
        var report = decoupling?.report
        if let sigmaCut = report?.largestDiscardedSingularValue {
            report?.leakBound = sigmaCut * weights.largestDeltaNorm()
        }
        let record = TrainingRecord(
            iterations: rule.iterations, initialLoss: curve.first, finalLoss: curve.last,
            finalMomentum: rule.momentum, stopReason: stopReason, lossCurve: compact,
            lossStride: stride, seconds: seconds, trainingImages: latents.latents.count,
            imageSeeds: latents.seeds)
        var hp = h
        if !plan.variant.isDecoupled { hp.beta = 1 }
        let metadata = ShiftMetadata(
            variant: plan.variant, concepts: [plan.concepts[k]], protectedPrompts: plan.protectedPrompts,
            decoupledFrom: plan.decoupledFrom(conceptAt: k), baseFingerprint: model.fingerprint,
            hyperparameters: hp, training: record, nullSpace: report,
            restorable: plan.variant.isDecoupled, toolVersion: SepMEInfo.version)
        return ConceptShift(metadata: metadata, weights: weights.detachedCopy())
    }
}

/// The tool's identity, written into every artifact.
public enum SepMEInfo {
    public static let version = "0.1.0"
}
