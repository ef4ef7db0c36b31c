import Diffusion
import Foundation
import TensorEngine

/// ESD-x (Gandikota et al., "Erasing Concepts from Diffusion Models", ICCV 2023, Eq. 4 with the
/// cross-attention parameters) as an `ErasureMethod`, following the authors'
/// `train-scripts/train-esd.py`. Per iteration, for concept prompt c (its wordings in turn):
///
/// 1. t_enc uniform in 0..<S over the S sampling steps; the model being trained, conditioned on c
///    with classifier-free guidance at the start guidance, denoises fresh noise for S − t_enc steps
///    (no gradient), leaving x_t at about the t_enc-th of S equal noise levels;
/// 2. the UNet's timestep t uniform in [round(t_enc·T/S), round((t_enc+1)·T/S)), T the training
///    timesteps, as the script maps its DDIM step to a DDPM timestep;
/// 3. loss = MSE(ε_θ'(x_t, c, t), ε_θ(x_t, "", t) − η (ε_θ(x_t, c, t) − ε_θ(x_t, "", t))), the
///    original θ's predictions with every shift suspended and no gradient.
///
/// Trained: a dense ΔW on every cross-attention key and value projection (`DenseFineTuning`); the
/// authors' ESD-x trains all of attn2 (q, k, v, out). Each concept is erased on its own.
struct ESDMethod: ErasureMethod {
    /// The sampling that makes x_t must suit the model.
    func check(plan: ErasurePlan, model: ShiftSet) throws {
        let h = plan.hyperparameters
        let options = plan.esd ?? ESDOptions()
        let config = model.pipeline.schedulerConfiguration
        try Self.sampler(plan).makeScheduler(config: config).setTimesteps(h.generationSteps)
        try model.pipeline.validate(h.generation(prompt: plan.concepts[0], guidance: options.startGuidance, scheduler: nil))
    }

    /// The sampler of the partial denoising: the plan's generation sampler, else DDIM (the script's).
    static func sampler(_ plan: ErasurePlan) -> SamplerKind { plan.hyperparameters.generationScheduler ?? .ddim }

    func erase(plan: ErasurePlan, concepts: [Int], model: ShiftSet, context: ErasureContext) throws -> [ConceptShift] {
        model.freezeBaseWeights()
        let options = plan.esd ?? ESDOptions()
        let training = DenseFineTuning(plan: plan, model: model, context: context)
        return try concepts.map { k in
            let weights = DenseFineTuning.trainableWeights(model: model)
            let loss = try Self.loss(plan: plan, conceptAt: k, model: model, options: options, shouldStop: context.observer.shouldStop)
            let result = try training.train(
                .init(conceptIndex: k, learningRate: options.learningRate, iterations: options.iterations, loss: loss), weights: weights)
            return training.shift(conceptAt: k, result: result, learningRate: options.learningRate, iterations: options.iterations) {
                $0.esd = options
            }
        }
    }

    /// The loss of concept k's iterations (see the type's comment), for `DenseFineTuning`.
    static func loss(
        plan: ErasurePlan, conceptAt k: Int, model: ShiftSet, options: ESDOptions, shouldStop: @escaping () -> Bool
    ) throws -> (Int) throws -> Tensor? {
        let pipeline = model.pipeline
        let prompts = plan.prompts(ofConceptAt: k)
        let blank = pipeline.unconditionalConditioning(count: 1)  // [1, L, d] (+ [1, P])
        let conditionings = prompts.map { pipeline.conditioning(prompts: [$0]) }  // [1, L, d] (+ [1, P]) each
        let steps = plan.hyperparameters.generationSteps
        let trainSteps = pipeline.schedulerConfiguration.numTrainTimesteps
        let sampler = sampler(plan)
        let seed = plan.hyperparameters.seed
        let concept = plan.concepts[k]
        let eta = Float(options.negativeGuidance)
        return { iteration in
            let p = iteration % prompts.count
            var g = PyTorchGenerator(trainingSeed: seed, concepts: concept, iteration: iteration)
            let tEnc = DenseFineTuning.draw(&g, 0, steps)
            let (low, high) = timestepRange(step: tEnc, steps: steps, trainTimesteps: trainSteps)
            let t = DenseFineTuning.draw(&g, low, high)
            let noiseSeed = UInt64(DenseFineTuning.draw(&g, 0, Int(Int32.max)))
            // x_t by the model being trained, no gradient (`DenseFineTuning` has its weights in place).
            let run = try pipeline.makeRun(
                plan.hyperparameters.generation(
                    prompt: prompts[p], seed: noiseSeed, steps: steps, guidance: options.startGuidance, scheduler: sampler))
            for _ in 0..<(steps - tEnc) {
                if shouldStop() { return nil }
                run.step()
            }
            let xt = run.latents  // [1, C, h, w]
            return loss(model: model, xt: xt, timestep: t, conditioning: conditionings[p], blank: blank, negativeGuidance: eta)
        }
    }

    /// MSE(ε_θ'(x_t, c), ε_θ(x_t, "") − η (ε_θ(x_t, c) − ε_θ(x_t, ""))) at timestep t, with gradient
    /// history into the training weights acting on `model`.
    // xt: [1, C, h, w], conditioning, blank: [1, L, d] (+ [1, P]) -> []
    static func loss(
        model: ShiftSet, xt: Tensor, timestep t: Int, conditioning: PromptConditioning, blank: PromptConditioning,
        negativeGuidance eta: Float
    ) -> Tensor {
        let pipeline = model.pipeline
        // The UNet's start reads no text and no shift: shared by the original and the edited evaluations.
        let start = pipeline.unet.textFreeStart(xt, timesteps: [Float(t)])
        let target = model.withShiftsSuspended {
            GradMode.withNoGrad {
                let both = pipeline.predictNoise(continuing: start, conditioning: PromptConditioning.concat([blank, conditioning]))
                let halves = both.chunked(2, axis: 0)  // e_0, e_p: [1, C, h, w] each
                return halves[0] - (halves[1] - halves[0]) * eta
            }
        }
        let edited = pipeline.predictNoise(continuing: start, conditioning: conditioning)
        return DenseFineTuning.meanSquaredError(edited, target)
    }

    /// The DDPM timesteps the script pairs with DDIM step t_enc of S: [round(t_enc·T/S),
    /// round((t_enc+1)·T/S)) with Python's round half to even, cut to T.
    static func timestepRange(step: Int, steps: Int, trainTimesteps: Int) -> (low: Int, high: Int) {
        func scaled(_ i: Int) -> Int {
            Int((Double(i) / Double(steps) * Double(trainTimesteps)).rounded(.toNearestOrEven))
        }
        let low = min(scaled(step), trainTimesteps - 1)
        return (low, min(max(scaled(step + 1), low + 1), trainTimesteps))
    }
}
