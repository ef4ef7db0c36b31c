import Diffusion
import Foundation
import NeuralNet
import TensorEngine

extension ConceptEraser {
    /// One concept of a training run.
    public struct ConceptJob {
        public let name: String
        public let decoupling: ConceptDecoupling?
        public let latents: TrainingLatents

        public init(name: String, decoupling: ConceptDecoupling?, latents: TrainingLatents) {
            self.name = name
            self.decoupling = decoupling
            self.latents = latents
        }
    }

    /// Trains the shifts of `jobs` and returns one ConceptShift per job.
    /// - `separate` (SRS-ME): each concept alone, one after the other.
    /// - `joint` (SRS-ME†): all at once, loss Σ η_k Lcor_k with η_k = max_j |Lcor_j| / |Lcor_k|,
    ///   each concept frozen once its own momentum statistic reaches τ.
    /// - `full` (SRS-ME‡): dense deltas on every cross-attention projection (no decoupling, not restorable).
    public func train(_ jobs: [ConceptJob], variant: ErasureVariant, protected: [String],
                      decoupledFrom extra: [String] = []) throws -> [ConceptShift] {
        guard !jobs.isEmpty else { throw ErasureError.invalidArgument("no concept to erase") }
        switch variant {
        case .separate:
            return try jobs.map { job in
                try runLoop([job], variant: .separate, protected: protected, decoupledFrom: extra + jobs.map(\.name).filter { $0 != job.name })[0]
            }
        case .joint, .full:
            return try runLoop(jobs, variant: variant, protected: protected, decoupledFrom: extra)
        }
    }

    private func runLoop(_ jobs: [ConceptJob], variant: ErasureVariant, protected: [String],
                         decoupledFrom: [String]) throws -> [ConceptShift] {
        let h = hyperparameters
        let projectionsInUse = variant == .full ? projections.allProjections : projections.keyValueProjections
        removeShiftAdapters(projections.allProjections)
        defer { removeShiftAdapters(projections.allProjections) }
        let shifts = jobs.map { job in
            TrainableShift(concept: job.name, basis: variant == .full ? nil : job.decoupling?.basis,
                           beta: variant == .full ? 1 : Float(h.beta), projections: projectionsInUse)
        }
        for s in shifts { s.install(on: projectionsInUse) }
        let optimizer = Adam(parameters: shifts.flatMap(\.tensors), learningRate: Float(h.learningRate))
        var rules = jobs.map { _ in MomentumStopRule(alpha: h.alpha, tau: h.tau, minIterations: h.minIterations, maxIterations: h.maxIterations) }
        var curves = jobs.map { _ in [Double]() }
        var stopReasons = jobs.map { _ in "" }
        var startIteration = 0
        let checkpoint = checkpointDirectory.map {
            TrainingCheckpoint(url: $0.appendingPathComponent(".sepme-checkpoint-\(variant.rawValue)-\(ConceptShift.slug(jobs.map(\.name).joined(separator: "+"))).safetensors"))
        }
        if resume, let checkpoint, let state = try checkpoint.load(shifts: shifts, optimizer: optimizer) {
            startIteration = state.iteration
            for k in jobs.indices { rules[k].restore(iterations: state.iterations[k], momentum: state.momenta[k]) }
            curves = state.curves
            stopReasons = state.stopReasons
        }
        let blank = embedding("")
        let conds = jobs.map { embedding($0.name) }
        let schedule = NoiseSchedule(pipeline.schedulerConfiguration)
        let started = Date()
        var iteration = startIteration
        func save() throws {
            try checkpoint?.save(iteration: iteration, shifts: shifts, optimizer: optimizer, rules: rules,
                                 curves: curves, stopReasons: stopReasons)
        }
        while true {
            let active = jobs.indices.filter { stopReasons[$0].isEmpty }
            if active.isEmpty { break }
            if shouldStop() { try save(); throw ErasureError.interrupted(checkpoint: checkpoint?.url.path) }
            // x_t for every active concept: next x_0, a random training timestep, fresh noise; then the objective.
            let x0 = Tensor.concat(active.map { jobs[$0].latents.latents[iteration % jobs[$0].latents.latents.count] }, axis: 0)
            let (t, noise) = iterationDraws(concept: jobs.map(\.name).joined(separator: "+"), iteration: iteration, shape: x0.shape)
            let xt = schedule.addNoise(x0, noise: noise, timesteps: [Int](repeating: t, count: active.count))
            let (loss, values, penalties) = objective(xt: xt, timestep: t, conds: Tensor.concat(active.map { conds[$0] }, axis: 0),
                                                      blank: blank, shifts: active.map { shifts[$0] }, variant: variant)
            guard loss.item.isFinite else {
                try save()
                throw ErasureError.nonFiniteLoss(concept: active.map { jobs[$0].name }.joined(separator: ", "),
                                                 iteration: iteration + 1, checkpoint: checkpoint?.url.path)
            }
            loss.backward()
            for k in jobs.indices where !active.contains(k) { for p in shifts[k].tensors { p.grad = nil } }
            optimizer.update()
            optimizer.zeroGrad()
            iteration += 1
            // The stopping statistic of each concept, on its own Lcor and penalty.
            for (i, k) in active.enumerated() {
                let lk = values[i] + h.lambda * penalties[i]
                curves[k].append(lk)
                switch rules[k].record(lk) {
                case .converged: stopReasons[k] = "converged"
                case .reachedMaxIterations: stopReasons[k] = "max_iterations"
                case .continueTraining: break
                }
                progress?(jobs[k].name, rules[k].iterations, lk, rules[k].momentum)
            }
            if checkpointEvery > 0 && iteration % checkpointEvery == 0 { try save() }
        }
        let seconds = Date().timeIntervalSince(started)
        let shiftsOut = jobs.indices.map { k in
            makeShift(job: jobs[k], trained: shifts[k], variant: variant, rule: rules[k], curve: curves[k],
                      stopReason: stopReasons[k], seconds: seconds, protected: protected,
                      decoupledFrom: decoupledFrom + jobs.map(\.name).filter { $0 != jobs[k].name })
        }
        checkpoint?.remove()
        return shiftsOut
    }

    /// The training objective of one iteration (method.md §2-3) for K concepts at one timestep:
    /// Σ_k η_k Lcor_k + λ (1/M) Σ_l |dW_l|₁, with η_k = 1 and each concept's own dW except in the
    /// joint variant (η balancing, penalty on the summed shift).
    /// Returns the loss (with gradient history into the shifts), each Lcor_k and each penalty.
    // xt: [K, C, h, w], conds: [K, L, d], blank: [1, L, d]
    public func objective(xt: Tensor, timestep t: Int, conds: Tensor, blank: Tensor, shifts: [TrainableShift],
                   variant: ErasureVariant) -> (loss: Tensor, correlations: [Double], penalties: [Double]) {
        let k = xt.shape[0]
        // The UNet's start before its first cross-attention reads no text and no shift: computed once
        // for the three evaluations of x_t (original c, original c0, edited c).
        let start = pipeline.unet.textFreeStart(xt, timesteps: [Float(t)])
        // Original representations, batched and gradient-free, with every shift off.
        let (rOrig, blankEps) = originalPredictions(start: start, conds: conds, blank: blank)
        // Edited representations: decoupled shifts leave the blank prompt's prediction unchanged,
        // so only the concept prompts run through the edited model; `full` must rerun the blank prompt.
        let rEdit: Tensor
        if variant == .full {
            let blanks = Tensor.concat([Tensor](repeating: blank, count: k), axis: 0)
            let eps = pipeline.unet(continuing: start, encoderHiddenStates: Tensor.concat([conds, blanks], axis: 0)).chunked(2, axis: 0)
            rEdit = eps[0] - eps[1]
        } else {
            rEdit = pipeline.unet(continuing: start, encoderHiddenStates: conds) - blankEps
        }
        let lcor = correlation(rEdit, rOrig)
        let values = lcor.scalars.map(Double.init)
        let maxAbs = values.map(abs).max() ?? 0
        let eta = values.map { v -> Float in (variant == .joint && k > 1 && abs(v) > 0) ? Float(maxAbs / abs(v)) : 1 }
        let penalties = shifts.map { $0.l1Penalty(layerCount: layerCount) }
        // Separate: each concept's own penalty. Joint (SRS-ME†): λ |Σ_j dW_j|₁ on the summed shift.
        let penalty = variant == .joint && shifts.count > 1
            ? TrainableShift.l1Penalty(ofSum: shifts, layerCount: layerCount)
            : penalties.dropFirst().reduce(penalties[0], +)
        let loss = (lcor * Tensor(eta, shape: [k])).sum() + penalty * Float(hyperparameters.lambda)
        return (loss, values, GradMode.withNoGrad { penalties.map { Double($0.item) } })
    }

    private func makeShift(job: ConceptJob, trained: TrainableShift, variant: ErasureVariant, rule: MomentumStopRule,
                           curve: [Double], stopReason: String, seconds: Double, protected: [String],
                           decoupledFrom: [String]) -> ConceptShift {
        let stride = max(1, curve.count / 200)
        let compact = Swift.stride(from: 0, to: curve.count, by: stride).map { curve[$0] }
        var report = job.decoupling?.report
        if let sigmaCut = report?.largestDiscardedSingularValue {
            report?.leakBound = sigmaCut * trained.largestShiftNorm()
        }
        let record = TrainingRecord(iterations: rule.iterations, initialLoss: curve.first, finalLoss: curve.last,
                                    finalMomentum: rule.momentum, stopReason: stopReason, lossCurve: compact,
                                    lossStride: stride, seconds: seconds, trainingImages: job.latents.latents.count,
                                    imageSeeds: job.latents.seeds)
        var hp = hyperparameters
        if variant == .full { hp.beta = 1 }
        let metadata = ShiftMetadata(variant: variant, concepts: [job.name], protectedPrompts: protected,
                                     decoupledFrom: variant == .full ? [] : decoupledFrom, baseFingerprint: fingerprint,
                                     hyperparameters: hp, training: record, nullSpace: variant == .full ? nil : report,
                                     restorable: variant != .full, toolVersion: SepMEInfo.version)
        let tensors = Dictionary(uniqueKeysWithValues: trained.parameters.map { ($0.0, $0.1.detached().copy()) })
        if variant == .full {
            return ConceptShift(metadata: metadata, beta: 1, basis: nil, factors: [:], deltas: tensors)
        }
        return ConceptShift(metadata: metadata, beta: trained.beta, basis: trained.basis, factors: tensors)
    }
}

/// The tool's identity, written into every artifact.
public enum SepMEInfo {
    public static let version = "0.1.0"
}
