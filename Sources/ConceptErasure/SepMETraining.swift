import Diffusion
import Foundation
import TensorEngine

/// The unlearning loop of SepME (method.md §2, paper Algorithm 1) for one group of concepts trained
/// together: per iteration a training latent per concept, a random timestep and noise, the
/// objective, one Adam step on the trainable weights, and the group's momentum stop rule fed the
/// weighted correlation (paper Eq. 37), so a group's concepts stop together.
/// Checkpoints follow the run's policy and are always written on interruption or a failed loss;
/// a resumed run continues bit-identically.
struct SepMETraining {
    let plan: ErasurePlan
    let model: ShiftSet
    let context: ErasureContext

    private var h: ErasureHyperparameters { plan.hyperparameters }

    func train(group: [Int], decouplings: [ConceptDecoupling?], latents: [TrainingLatents]) throws -> [ConceptShift] {
        let names = group.map { plan.concepts[$0] }
        let label = names.joined(separator: ", ")
        let strategy = plan.variant.strategy
        let weights = decouplings.map {
            strategy.trainableWeights(
                projections: model.projections, basis: $0?.basis, beta: Float(h.beta),
                reachThreshold: ShiftAdapter.reachThreshold(relativeLeak: $0?.relativeLeak))
        }
        let optimizer = Adam(parameters: weights.flatMap(\.trainableTensors), learningRate: Float(h.learningRate))
        var state = TrainingCheckpoint.State(plan: plan, concepts: names)
        let checkpoint = TrainingCheckpoint(
            url: context.directory.appendingPathComponent(
                ".sepme-checkpoint-\(plan.variant.rawValue)-\(ConceptShift.slug(names.joined(separator: "+"))).safetensors"))
        if context.resume {
            if let restored = try checkpoint.load(expected: state, weights: weights, optimizer: optimizer) {
                state = restored
                context.observer.message("\(label): resuming from iteration \(state.iteration) (\(checkpoint.url.path))")
            } else {
                context.observer.message("\(label): no checkpoint to resume in \(context.directory.path); starting from iteration 0")
            }
        }
        var rule = MomentumStopRule(alpha: h.alpha, tau: h.tau, minIterations: h.minIterations, maxIterations: h.maxIterations)
        rule.restore(iterations: state.iteration, momentum: state.momentum)
        if state.stopReason == nil, state.iteration >= h.maxIterations { state.stopReason = .maxIterations }
        let objective = SepMEObjective(
            model: model, variant: plan.variant, lambda: h.lambda, originalPrecision: context.originalPrecision)
        // The unconditional conditioning guidance uses (method.md §2, c0): the blank prompt's, or
        // SDXL's zeros under force_zeros_for_empty_prompt. [1, L, d] (+ [1, P])
        let blank = model.pipeline.unconditionalConditioning(count: 1)
        // Each concept's prompts' conditionings, [1, L, d] (+ [1, P]) each.
        let prompts = group.map(plan.prompts(ofConceptAt:))
        let conditionings = prompts.map { $0.map { model.pipeline.conditioning(prompts: [$0]) } }
        let schedule = NoiseSchedule(model.pipeline.schedulerConfiguration)
        let started = Date()
        let secondsAtStart = state.secondsBefore
        var lastSave = Date()
        func save() throws {
            state.capture(rule)
            state.secondsBefore = secondsAtStart + Date().timeIntervalSince(started)
            try checkpoint.save(state, weights: weights, optimizer: optimizer)
            lastSave = Date()
        }
        try model.withTrainingWeights(weights) {
            while state.stopReason == nil {
                if context.observer.shouldStop() {
                    try save()
                    throw ErasureError.interrupted(checkpoint: checkpoint.url.path)
                }
                let it = state.iteration
                // x_t for every concept: its next x_0 (and the prompt it shows), a random training
                // timestep, fresh noise.
                let draws = names.indices.map { latents[$0].draw(iteration: it, promptCount: prompts[$0].count) }
                let x0 = Tensor.concat(draws.map(\.latent), axis: 0)
                let conds = PromptConditioning.concat(names.indices.map { conditionings[$0][draws[$0].prompt] })
                let (t, noise) = SepMEObjective.iterationDraws(
                    seed: h.seed, concepts: names.joined(separator: "+"), iteration: it,
                    trainTimesteps: model.pipeline.schedulerConfiguration.numTrainTimesteps,
                    shape: x0.shape)
                let xt = schedule.addNoise(x0, noise: noise, timesteps: [Int](repeating: t, count: names.count))
                let value = objective(xt: xt, timestep: t, conds: conds, blank: blank, weights: weights)
                guard value.loss.item.isFinite else {
                    try save()
                    throw ErasureError.nonFiniteLoss(concept: label, iteration: it + 1, checkpoint: checkpoint.url.path)
                }
                value.loss.backward()
                optimizer.update()
                optimizer.zeroGrad()
                for k in names.indices { state.curves[k].append(value.correlations[k]) }
                // The stop statistic is fed Σ η_k Lcor_k alone (paper Eq. 37), not the L1 term.
                let decision = rule.record(value.weightedCorrelation)
                state.iteration = rule.iterations
                switch decision {
                case .converged: state.stopReason = .converged
                case .reachedMaxIterations: state.stopReason = .maxIterations
                case .continueTraining: break
                }
                context.observer.iteration(label, rule.iterations, value.weightedCorrelation, rule.momentum)
                let p = context.checkpoints
                if state.stopReason == nil,
                    (p.iterations > 0 && state.iteration % p.iterations == 0)
                        || (p.seconds > 0 && Date().timeIntervalSince(lastSave) >= p.seconds)
                {
                    try save()
                }
            }
        }
        let seconds = secondsAtStart + Date().timeIntervalSince(started)
        let shifts = names.indices.map { k in
            makeShift(
                conceptAt: group[k], weights: weights[k], decoupling: decouplings[k], rule: rule,
                curve: state.curves[k], stopReason: state.stopReason ?? .maxIterations,
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
        var record = TrainingRecord(
            iterations: rule.iterations, initialLoss: curve.first, finalLoss: curve.last,
            finalMomentum: rule.momentum, stopReason: stopReason, lossCurve: compact,
            lossStride: stride, seconds: seconds, trainingImages: latents.latents.count,
            imageSeeds: latents.seeds, imageSeconds: latents.generationSeconds)
        record.originalPrecision = context.originalPrecision.rawValue
        var hp = h
        if !plan.variant.isDecoupled { hp.beta = 1 }
        let metadata = ShiftMetadata(
            variant: plan.variant, concepts: plan.prompts(ofConceptAt: k), protectedPrompts: plan.protectedPrompts,
            decoupledFrom: plan.decoupledFrom(conceptAt: k), baseFingerprint: model.fingerprint,
            hyperparameters: hp, training: record, nullSpace: report,
            restorable: plan.variant.isDecoupled, toolVersion: SepMEInfo.version)
        return ConceptShift(metadata: model.recordingModel(in: metadata), weights: weights.detachedCopy())
    }
}

/// The tool's identity, written into every artifact.
public enum SepMEInfo {
    public static let version = "0.1.0"
}
