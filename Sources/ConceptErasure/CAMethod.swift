import Diffusion
import Foundation
import TensorEngine

/// CA, concept ablation (Kumari et al., "Ablating Concepts in Text-to-Image Diffusion Models", ICCV
/// 2023, the model-based loss of Eq. 4), as an `ErasureMethod` following the authors'
/// `diffusers/train.py` with `--parameter_group cross-attn`. For concept prompt c with wordings
/// c_i and their anchors c*_i (`CAOptions.anchor(ofWording:concept:)`):
///
/// - training data: images the original model generates from the anchors (image j from c*_{j mod n},
///   cached as SepME's training images are);
/// - per iteration: the next image x_0 and its wording i, t uniform over the training timesteps and
///   noise ε, x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε;
/// - loss = MSE(ε_θ'(x_t, c_i, t), ε_θ(x_t, c*_i, t)), the target the original θ's prediction for
///   the anchor, with every shift suspended and no gradient.
///
/// Trained: a dense ΔW on every cross-attention key and value projection (`DenseFineTuning`), the
/// authors' `cross-attn` group. Each concept is ablated on its own.
struct CAMethod: ErasureMethod {
    /// The anchor images' sampling must suit the model.
    func check(plan: ErasurePlan, model: ShiftSet) throws {
        let h = plan.hyperparameters
        let config = model.pipeline.schedulerConfiguration
        try SamplerKind.resolve(h.generationScheduler, config: config).makeScheduler(config: config).setTimesteps(h.generationSteps)
        try model.pipeline.validate(h.generation(prompt: plan.concepts[0], scheduler: h.generationScheduler))
    }

    func erase(plan: ErasurePlan, concepts: [Int], model: ShiftSet, context: ErasureContext) throws -> [ConceptShift] {
        model.freezeBaseWeights()
        guard let options = plan.ca else {
            throw ErasureError.invalidPlan(field: CAOptions.anchorKey, reason: "the method 'ca' needs an anchor prompt")
        }
        var h = plan.hyperparameters
        h.images = options.images
        let images = TrainingImages(
            pipeline: model.pipeline, hyperparameters: h, fingerprint: model.fingerprint, cache: context.imageCache,
            observer: context.observer)
        let training = DenseFineTuning(plan: plan, model: model, context: context)
        return try concepts.map { k in
            let anchors = Self.anchors(plan: plan, conceptAt: k, options: options)
            let latents = try images.generated(prompts: anchors)
            let weights = DenseFineTuning.trainableWeights(model: model)
            let loss = Self.loss(plan: plan, conceptAt: k, model: model, anchors: anchors, latents: latents)
            let result = try training.train(
                .init(conceptIndex: k, learningRate: options.learningRate, iterations: options.iterations, loss: loss),
                weights: weights, trainingImages: latents.latents.count, imageSeeds: latents.seeds,
                imageSeconds: latents.generationSeconds)
            return training.shift(conceptAt: k, result: result, learningRate: options.learningRate, iterations: options.iterations) {
                $0.ca = options
            }
        }
    }

    /// The anchor of each of concept k's prompts, in the order of `plan.prompts(ofConceptAt:)`.
    static func anchors(plan: ErasurePlan, conceptAt k: Int, options: CAOptions) -> [String] {
        plan.prompts(ofConceptAt: k).map { options.anchor(ofWording: $0, concept: plan.concepts[k]) }
    }

    /// The loss of concept k's iterations (see the type's comment), for `DenseFineTuning`.
    static func loss(
        plan: ErasurePlan, conceptAt k: Int, model: ShiftSet, anchors: [String], latents: TrainingLatents
    ) -> (Int) throws -> Tensor? {
        let pipeline = model.pipeline
        let prompts = plan.prompts(ofConceptAt: k)
        let conditionings = prompts.map { pipeline.conditioning(prompts: [$0]) }  // [1, L, d] (+ [1, P]) each
        let anchorConditionings = anchors.map { pipeline.conditioning(prompts: [$0]) }  // [1, L, d] (+ [1, P]) each
        let schedule = NoiseSchedule(pipeline.schedulerConfiguration)
        let trainSteps = pipeline.schedulerConfiguration.numTrainTimesteps
        let seed = plan.hyperparameters.seed
        let concept = plan.concepts[k]
        return { iteration in
            let draw = latents.draw(iteration: iteration, promptCount: prompts.count)
            var g = PyTorchGenerator(trainingSeed: seed, concepts: concept, iteration: iteration)
            let t = DenseFineTuning.draw(&g, 0, trainSteps)
            let noise = Tensor.randn(draw.latent.shape, generator: &g)
            let xt = schedule.addNoise(draw.latent, noise: noise, timesteps: [t])
            return loss(
                model: model, xt: xt, timestep: t, conditioning: conditionings[draw.prompt], anchor: anchorConditionings[draw.prompt])
        }
    }

    /// MSE(ε_θ'(x_t, c), ε_θ(x_t, c*)) at timestep t, with gradient history into the training
    /// weights acting on `model`.
    // xt: [1, C, h, w], conditioning, anchor: [1, L, d] (+ [1, P]) -> []
    static func loss(model: ShiftSet, xt: Tensor, timestep t: Int, conditioning: PromptConditioning, anchor: PromptConditioning) -> Tensor {
        let pipeline = model.pipeline
        let start = pipeline.unet.textFreeStart(xt, timesteps: [Float(t)])
        let target = model.withShiftsSuspended {
            GradMode.withNoGrad { pipeline.predictNoise(continuing: start, conditioning: anchor) }
        }
        let edited = pipeline.predictNoise(continuing: start, conditioning: conditioning)
        return DenseFineTuning.meanSquaredError(edited, target)
    }
}
