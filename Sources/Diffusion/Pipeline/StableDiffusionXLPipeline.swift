import CLIP
import Foundation
import ImageIO
import NeuralNet
import TensorEngine

/// SDXL's prompt conditioning for a batch (diffusers' `encode_prompt` outputs).
public struct SDXLPromptEmbeddings {
    /// [B, L, D1 + D2]: both encoders' penultimate hidden states, concatenated along the features.
    public let context: Tensor
    /// [B, P]: the second encoder's projected pooled output.
    public let pooled: Tensor
}

/// Text-to-image with a Stable Diffusion XL model as diffusers' `StableDiffusionXLPipeline`
/// (pipelines/stable_diffusion_xl/pipeline_stable_diffusion_xl.py) runs it without refiner options:
/// two tokenizers and text encoders (penultimate hidden states concatenated, pooled projected output
/// of the second), `force_zeros_for_empty_prompt`, the six size/crop time ids, UNet + scheduler loop
/// with classifier-free guidance, VAE decode of latents / scaling_factor.
public final class StableDiffusionXLPipeline: TextToImagePipeline {
    public let tokenizer: CLIPTokenizer
    /// Pads with its own pad token ("!" for SDXL's OpenCLIP bigG tokenizer).
    public let tokenizer2: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    public let textEncoder2: CLIPTextModelWithProjection
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    public let schedulerConfiguration: SchedulerConfiguration
    /// model_index.json `force_zeros_for_empty_prompt`: without a negative prompt, guidance uses zero
    /// embeddings (context and pooled) instead of encoding "".
    public let forceZerosForEmptyPrompt: Bool
    public let source: String

    public init(
        tokenizer: CLIPTokenizer, tokenizer2: CLIPTokenizer, textEncoder: CLIPTextModel,
        textEncoder2: CLIPTextModelWithProjection, unet: UNet2DConditionModel, vae: AutoencoderKL,
        schedulerConfiguration: SchedulerConfiguration, forceZerosForEmptyPrompt: Bool, source: String
    ) {
        self.tokenizer = tokenizer
        self.tokenizer2 = tokenizer2
        self.textEncoder = textEncoder
        self.textEncoder2 = textEncoder2
        self.unet = unet
        self.vae = vae
        self.schedulerConfiguration = schedulerConfiguration
        self.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt
        self.source = source
    }

    /// Loads an SDXL diffusers folder strictly: every configuration is read and checked against the
    /// others (`SDXLFolderConfigurations`) before any weight is read. A folder of another family
    /// throws `ModelFamilyMismatchError`.
    public convenience init(folder: ModelFolder) throws {
        let configurations = try SDXLFolderConfigurations(folder: folder)
        guard let textEncoder2URL = folder.textEncoder2 else {
            throw ModelFamilyMismatchError(path: folder.url.path, family: .stableDiffusion1, accepted: [.stableDiffusionXL])
        }
        guard let vaeURL = folder.vae else {
            throw ModelFolder.Error.missingFile(folder.url.appendingPathComponent("vae").path, what: "the vae component")
        }
        self.init(
            tokenizer: configurations.tokenizer, tokenizer2: configurations.tokenizer2,
            textEncoder: try CLIPTextModel.load(folder: folder.textEncoder),
            textEncoder2: try CLIPTextModelWithProjection.load(folder: textEncoder2URL),
            unet: try UNet2DConditionModel.load(folder: folder.unet), vae: try AutoencoderKL.load(folder: vaeURL),
            schedulerConfiguration: configurations.scheduler,
            forceZerosForEmptyPrompt: folder.forceZerosForEmptyPrompt, source: folder.url.path)
    }

    public var vaeConfiguration: AutoencoderKLConfiguration? { vae.configuration }
    public var vaeScaleFactor: Int { vae.spatialScaleFactor }
    public var latentChannels: Int { unet.configuration.inChannels }
    /// `StableDiffusionXLPipeline.__call__`'s default `guidance_scale`.
    public var defaultGuidanceScale: Float { 5.0 }
    /// diffusers' `default_sample_size * vae_scale_factor` (1024 × 1024 for SDXL base).
    public var defaultImageSize: (height: Int, width: Int) {
        let s = unet.configuration.sampleSize?.values(count: 2) ?? [128, 128]
        return (s[0] * vaeScaleFactor, s[1] * vaeScaleFactor)
    }

    /// Both encoders on `prompts` (`encode_prompt` with clip_skip None): each tokenizer pads to its
    /// own length with its own pad token, each encoder's `hidden_states[-2]`, concatenated, and the
    /// second's `text_embeds`. No gradients.
    // prompts: B -> context [B, L, D1 + D2], pooled [B, P]
    public func encode(prompts: [String]) -> SDXLPromptEmbeddings {
        GradMode.withNoGrad {
            let first = textEncoder(prompts.map { tokenizer.encode($0) }, outputHiddenStates: true)
            let second = textEncoder2(prompts.map { tokenizer2.encode($0) }, outputHiddenStates: true)
            // Both have at least one layer (the configurations' ranges), hence two hidden states.
            let states = [first.penultimateHiddenState, second.text.penultimateHiddenState].compactMap { $0 }
            return SDXLPromptEmbeddings(context: Tensor.concat(states, axis: 2), pooled: second.textEmbeds)
        }
    }

    /// `_get_add_time_ids` with diffusers' defaults: original size = target size = (height, width),
    /// crop top-left (0, 0).
    public static func timeIds(width: Int, height: Int) -> [Float] {
        [Float(height), Float(width), 0, 0, Float(height), Float(width)]
    }

    /// Prepares a run: prompt embeddings (negative first, as diffusers; zeros for an absent negative
    /// prompt under `forceZerosForEmptyPrompt`), time ids, seeded initial noise, timesteps.
    public func makeRun(_ options: GenerationOptions) throws -> DenoisingRun {
        let (width, height) = try validate(options)
        let scheduler = try runScheduler(options)
        let repeated = options.prompts.flatMap { [String](repeating: $0, count: options.imagesPerPrompt) }
        let conditioning = encode(prompts: repeated)
        var unconditional: SDXLPromptEmbeddings? = nil
        if options.usesGuidance {
            if options.negativePrompt == nil && forceZerosForEmptyPrompt {
                unconditional = SDXLPromptEmbeddings(
                    context: Tensor(zeros: conditioning.context.shape), pooled: Tensor(zeros: conditioning.pooled.shape))
            } else {
                unconditional = encode(prompts: [String](repeating: options.negativePrompt ?? "", count: repeated.count))
            }
        }
        let ids = Self.timeIds(width: width, height: height)
        let pooled = unconditional.map { Tensor.concat([$0.pooled, conditioning.pooled], axis: 0) } ?? conditioning.pooled
        guard let added = UNetAddedConditions(textEmbeds: pooled, sharedTimeIds: ids) else {
            throw PipelineError.invalidArgument("\(source): the pooled text embedding is not [B, P]")
        }
        let (latents, generator) = initialLatents(
            batch: repeated.count, width: width, height: height, seed: options.seed, scheduler: scheduler)
        let precision = options.precision
        let cache = precision == .bf16 ? (options.bf16Weights ?? BF16WeightCache()) : nil
        return DenoisingRun(
            scheduler: scheduler, latents: latents, conditioning: conditioning.context,
            unconditional: unconditional?.context, guidance: options.guidance, generator: generator
        ) {
            [unet] x, t, c in
            // DenoisingRun passes [unconditional, conditioning] under guidance, else the conditioning:
            // the added conditions were concatenated in that order. The run holds the UNet itself.
            PrecisionMode.with(precision, cache: cache) {
                let start = unet.textFreeStart(x, timesteps: [Float](repeating: t, count: x.shape[0]))
                return unet(continuing: start, encoderHiddenStates: c, addedConditions: added)
            }
        }
    }

    /// Latents → images in [-1, 1]: VAE decode of latents / scaling_factor (in fp32, or with bf16
    /// products and fp32 sums, both with fp32's exponent range, so `force_upcast` changes nothing).
    // latents: [B, C, h, w] -> [B, 3, H, W]
    public func decodeToPixels(_ latents: Tensor) throws -> Tensor {
        try GradMode.withNoGrad { try vae.decode(latents * Float(1 / vae.configuration.scalingFactor)) }
    }
}
