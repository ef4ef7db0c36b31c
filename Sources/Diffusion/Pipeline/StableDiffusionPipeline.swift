import CLIP
import Foundation
import ImageIO
import NeuralNet
import TensorEngine

/// Text-to-image with a Stable Diffusion v1-family model (diffusers `StableDiffusionPipeline`):
/// tokenizer → CLIP text encoder → UNet + scheduler loop → VAE decoder (or none, for pixel-space models).
public final class StableDiffusionPipeline: TextToImagePipeline {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL?
    public let schedulerConfiguration: SchedulerConfiguration
    /// Where the model came from (folder or file), for messages and fingerprints.
    public let source: String

    public init(
        tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, unet: UNet2DConditionModel,
        vae: AutoencoderKL?, schedulerConfiguration: SchedulerConfiguration, source: String
    ) {
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
        self.unet = unet
        self.vae = vae
        self.schedulerConfiguration = schedulerConfiguration
        self.source = source
    }

    /// Loads every component of a diffusers folder strictly: all configurations are read and checked
    /// against each other (`checkConsistency`) before any weight is allocated or read.
    /// An SDXL folder throws `ModelFamilyMismatchError` (it is `StableDiffusionXLPipeline`'s).
    public convenience init(folder: ModelFolder) throws {
        if folder.isStableDiffusionXL {
            throw ModelFamilyMismatchError(
                path: folder.url.path, family: .stableDiffusionXL, accepted: [.stableDiffusion1, .stableDiffusion2])
        }
        let configurations = try FolderConfigurations(folder: folder)
        let tokenizer = configurations.tokenizer
        let scheduler = configurations.scheduler
        let textEncoder = try CLIPTextModel.load(folder: folder.textEncoder)
        let unet = try UNet2DConditionModel.load(folder: folder.unet)
        let vae = try folder.vae.map { try AutoencoderKL.load(folder: $0) }
        self.init(
            tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, vae: vae,
            schedulerConfiguration: scheduler, source: folder.url.path)
    }

    public var vaeConfiguration: AutoencoderKLConfiguration? { vae?.configuration }
    /// Spatial factor between image pixels and latents (1 without a VAE).
    public var vaeScaleFactor: Int { vae?.spatialScaleFactor ?? 1 }
    public var latentChannels: Int { unet.configuration.inChannels }
    /// `StableDiffusionPipeline.__call__`'s default `guidance_scale`.
    public var defaultGuidanceScale: Float { 7.5 }
    /// diffusers' default output size: unet.sample_size × vae scale factor, as (height, width).
    public var defaultImageSize: (height: Int, width: Int) {
        let s = unet.configuration.sampleSize?.values(count: 2) ?? [64, 64]
        return (s[0] * vaeScaleFactor, s[1] * vaeScaleFactor)
    }

    /// Text embeddings E(p) = last hidden state of the encoder: [B, L, D] (no gradients).
    public func encode(prompts: [String]) -> Tensor {
        let ids = prompts.map { tokenizer.encode($0) }
        return GradMode.withNoGrad { textEncoder(ids).lastHiddenState }
    }

    /// Noise prediction ε(x_t, t, c) of the UNet for one timestep shared by the batch. With k
    /// contexts per latent (classifier-free guidance: k = 2), the UNet's text-free start is computed
    /// once and shared; the result is k blocks of B, in the order of the contexts.
    // latents: [B, C, h, w], context: [k·B, L, D] -> [k·B, C, h, w]
    public func predictNoise(_ latents: Tensor, timestep: Float, context: Tensor) -> Tensor {
        let start = unet.textFreeStart(latents, timesteps: [Float](repeating: timestep, count: latents.shape[0]))
        return unet(continuing: start, encoderHiddenStates: context)
    }

    /// Prepares a run: prompt embeddings (negative first, as diffusers), seeded initial noise, timesteps.
    public func makeRun(_ options: GenerationOptions) throws -> DenoisingRun {
        let (width, height) = try validate(options)
        let scheduler = try runScheduler(options)
        let repeated = options.prompts.flatMap { [String](repeating: $0, count: options.imagesPerPrompt) }
        let conditioning = encode(prompts: repeated)
        let unconditional =
            options.usesGuidance
            ? encode(prompts: [String](repeating: options.negativePrompt ?? "", count: repeated.count)) : nil
        let (latents, generator) = initialLatents(
            batch: repeated.count, width: width, height: height, seed: options.seed, scheduler: scheduler)
        // bf16: the UNet's weights are converted on the run's first step, unless the options' cache
        // holds them from an earlier run.
        let precision = options.precision
        let cache = precision == .bf16 ? (options.bf16Weights ?? BF16WeightCache()) : nil
        return DenoisingRun(
            scheduler: scheduler, latents: latents, conditioning: conditioning,
            unconditional: unconditional, guidance: options.guidance, generator: generator
        ) {
            [unowned self] x, t, c in
            PrecisionMode.with(precision, cache: cache) { self.predictNoise(x, timestep: t, context: c) }
        }
    }

    /// Latents → images in [-1, 1]: VAE decode of latents / scaling_factor, or the latents themselves.
    // latents: [B, C, h, w] -> [B, 3, H, W]
    public func decodeToPixels(_ latents: Tensor) throws -> Tensor {
        guard let vae else { return latents }
        return try GradMode.withNoGrad { try vae.decode(latents * Float(1 / vae.configuration.scalingFactor)) }
    }

    /// Pixels → latents: VAE mean × scaling_factor (deterministic), or the pixels themselves.
    // pixels: [B, 3, H, W] in [-1, 1] -> [B, C, h, w]
    public func encodeFromPixels(_ pixels: Tensor) throws -> Tensor {
        guard let vae else { return pixels }
        return try GradMode.withNoGrad { try vae.encode(pixels).mean * Float(vae.configuration.scalingFactor) }
    }
}

public struct GenerationResult {
    /// Final latents before decoding: [B, C, h, w].
    public let latents: Tensor
    public let images: [RGBImage]
}
