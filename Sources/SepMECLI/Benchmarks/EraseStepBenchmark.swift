import ArgumentParser
import CLIP
import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine

/// One SepME training iteration, timed in the same run next to the reference layout (random weights, batch 1):
/// - sepme: the UNet's text-free start once, the original model's two predictions (concept, blank) in
///   one batched gradient-free call with the shifts switched off, one edited forward on the concept
///   prompt only (decoupled shifts leave the blank prompt unchanged), one backward into A (method.md §1-2);
/// - reference: the authors' layout: a second, frozen copy of the UNet for the original predictions,
///   four batch-1 forwards (original c, original c0, edited c, edited c0) and backward through both
///   edited ones, timed twice:
///   - lean: the backward fills only A's gradient (the cheapest form of that layout);
///   - as scripted: the backward also fills the gradient of every weight of the edited UNet, as the
///     authors' `train-scripts/SRS_ME.py` does: their `ldm/ddpm.py` freezes only the VAE and the text
///     encoder, so `loss.backward()` computes every UNet weight gradient (860 M for SD1.4), which the
///     optimiser ignores. Their configuration also turns on gradient checkpointing
///     (`use_checkpoint: True`), which recomputes every ResBlock and self-attention in the backward;
///     that is not modelled, so this figure is a lower bound on the script's own cost.
struct EraseStepBenchmark {
    struct Figures: Codable {
        var seconds: Double
        var peakTensorBytes: Int
        /// Operations of one iteration, forward and backward, as `FlopTally` counts them (the matrix products).
        var flops: Double
    }

    let configuration: UNet2DConditionConfiguration
    let size: Int
    let repeats: Int
    /// Precision of sepme's original predictions (the reference layout stays fp32).
    var originalPrecision: ComputePrecision = .fp32
    /// Times the reference layout too (it holds a second UNet: twice the weights' memory).
    var includesReference = true

    struct Result: Codable {
        var sepme: Figures
        /// The reference layout, backward into A only (nil when not timed).
        var leanReference: Figures?
        /// The reference layout with every edited-UNet weight gradient filled, as the authors' script does.
        var scriptedReference: Figures?
        var nullSpaceDimension: Int
        var unetParameterCount: Int
        var ratioToScriptedReference: Double? { scriptedReference.map { sepme.seconds / $0.seconds } }
        var ratioToLeanReference: Double? { leanReference.map { sepme.seconds / $0.seconds } }
    }

    /// A random-weight pipeline around `configuration`'s UNet: SD 1.x's CLIP ViT-L/14 text encoder, or
    /// for a "text_time" UNet SDXL's two (CLIP ViT-L/14 and OpenCLIP bigG with its projection; both
    /// tokenizers SD1's vocabulary: the second's pad token, "!" in SDXL, does not change the cost).
    /// SDXL's encoders are built one layer deep: they only make the three prompts' embeddings, whose
    /// widths (768 + 1280) and token counts set the iteration's cost and null-space rank, and at full
    /// depth they would hold 3.3 GB that the iteration never uses (PyTorch's counterpart holds none).
    func makePipeline(log: (String) -> Void) throws -> any PromptConditionedPipeline {
        let unet = try UNet2DConditionModel(configuration: configuration)
        unet.initializeRandomly(seed: 1)
        var g = PyTorchGenerator(seed: 2)
        var firstConfiguration = CLIPTextConfiguration.sd15
        if unet.textTime != nil { firstConfiguration.layerCount = 1 }
        let textEncoder = CLIPTextModel(configuration: firstConfiguration)
        textEncoder.initializeParameters(generator: &g)
        let tokenizer = try CLIPTokenizer.stableDiffusion1()
        guard let textTime = unet.textTime else {
            log("built random-weight models (UNet \(configuration.blockOutChannels), CLIP ViT-L/14 text encoder)")
            let width = CLIPTextConfiguration.sd15.hiddenSize
            guard unet.crossAttentionDim == width else {
                throw ValidationError(
                    "--config: the UNet's cross_attention_dim is \(unet.crossAttentionDim), the benchmark's text encoder (CLIP ViT-L/14) gives \(width)"
                )
            }
            return StableDiffusionPipeline(
                tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, vae: nil, schedulerConfiguration: .stableDiffusion1,
                source: "random")
        }
        var second = CLIPTextConfiguration.openCLIPBigG
        second.layerCount = 1
        let widths = [CLIPTextConfiguration.sd15.hiddenSize, second.hiddenSize]
        guard unet.crossAttentionDim == widths.reduce(0, +),
            textTime.pooledWidth(timeIdCount: SDXLFolderConfigurations.timeIdCount) == second.hiddenSize
        else {
            throw ValidationError(
                "--config: a text_time UNet needs cross_attention_dim \(widths.reduce(0, +)) and a \(second.hiddenSize)-wide pooled embedding "
                    + "(SDXL's encoders, CLIP ViT-L/14 and OpenCLIP bigG), got \(unet.crossAttentionDim) and "
                    + "\(textTime.pooledWidth(timeIdCount: SDXLFolderConfigurations.timeIdCount) ?? 0)")
        }
        let textEncoder2 = CLIPTextModelWithProjection(configuration: second, projectionDimension: second.hiddenSize)
        textEncoder2.initializeParameters(generator: &g)
        log("built random-weight models (UNet \(configuration.blockOutChannels), CLIP ViT-L/14 and OpenCLIP bigG text encoders, one layer each)")
        return StableDiffusionXLPipeline(
            tokenizer: tokenizer, tokenizer2: tokenizer, textEncoder: textEncoder, textEncoder2: textEncoder2, unet: unet,
            vae: try AutoencoderKL(.sd14), schedulerConfiguration: .stableDiffusion1, forceZerosForEmptyPrompt: true, source: "random")
    }

    func run(log: (String) -> Void) throws -> Result {
        let pipeline = try makePipeline(log: log)
        let unet = pipeline.unet
        var h = ErasureHyperparameters()
        h.beta = 1e-2
        let model = try ShiftSet(pipeline: pipeline)
        let concept = "a painting in the style of van gogh"
        let cond = pipeline.conditioning(prompts: [concept])
        let blank = pipeline.conditioning(prompts: [""])
        let decoupling = try ConceptDecoupling(
            concept: concept, conceptEmbedding: cond.context,
            protectedEmbeddings: [blank.context, pipeline.conditioning(prompts: ["zq watermark"]).context], tolerance: nil)
        let shift = ShiftWeights.trainable(projections: model.projections.keyValueProjections, basis: decoupling.basis, beta: Float(h.beta))
        let optimizer = Adam(parameters: shift.trainableTensors, learningRate: 0.1)
        let objective = SepMEObjective(model: model, variant: .separate, lambda: h.lambda, originalPrecision: originalPrecision)
        var noise = PyTorchGenerator(seed: 3)
        let xt = Tensor.randn([1, configuration.inChannels, size, size], generator: &noise)

        func measure(_ step: () -> Void) -> Figures {
            let flops = FlopTally.counting { step() }.flops  // warm-up (allocator, BLAS buffers), counted
            MemoryStatistics.shared.resetPeak()
            let seconds = WallClock.fastest(of: repeats, step)
            return Figures(seconds: seconds, peakTensorBytes: MemoryStatistics.shared.peakBytes, flops: flops)
        }

        return try model.withTrainingWeights([shift]) {
            log("timing the sepme iteration")
            let ours = measure {
                let loss = objective(xt: xt, timestep: 500, conds: cond, blank: blank, weights: [shift]).loss
                loss.backward()
                optimizer.update()
                optimizer.zeroGrad()
            }

            guard includesReference else {
                return Result(
                    sepme: ours, leanReference: nil, scriptedReference: nil, nullSpaceDimension: decoupling.report.dimension,
                    unetParameterCount: unet.parameterCount)
            }
            let original = try UNet2DConditionModel(configuration: configuration)
            for ((_, dst), (_, src)) in zip(original.namedParameters(), unet.namedParameters()) { dst.assign(from: src) }
            let addedCond = pipeline.addedConditions(for: cond, latentHeight: size, latentWidth: size)
            let addedBlank = pipeline.addedConditions(for: blank, latentHeight: size, latentWidth: size)
            let referenceStep = {
                let t: [Float] = [500]
                let (oc, o0) = GradMode.withNoGrad {
                    (
                        original(xt, timesteps: t, encoderHiddenStates: cond.context, addedConditions: addedCond),
                        original(xt, timesteps: t, encoderHiddenStates: blank.context, addedConditions: addedBlank)
                    )
                }
                let ec = unet(xt, timesteps: t, encoderHiddenStates: cond.context, addedConditions: addedCond)
                let e0 = unet(xt, timesteps: t, encoderHiddenStates: blank.context, addedConditions: addedBlank)
                let loss =
                    ((ec - e0) * (oc - o0)).mean()
                    + SepMEObjective.l1Penalty(ofSum: [shift]) * Float(h.lambda)
                loss.backward()
                optimizer.update()
                optimizer.zeroGrad()
            }
            log("timing the reference iteration (second UNet copy, 4 forwards + 2 backwards), backward into A only")
            let lean = measure(referenceStep)
            log("timing the reference iteration again, the backward also filling every UNet weight's gradient (as the authors' script)")
            unet.setRequiresGrad(true)
            let scripted = measure(referenceStep)
            unet.setRequiresGrad(false)
            for p in unet.parameters() { p.grad = nil }
            return Result(
                sepme: ours, leanReference: lean, scriptedReference: scripted, nullSpaceDimension: decoupling.report.dimension,
                unetParameterCount: unet.parameterCount)
        }
    }
}
