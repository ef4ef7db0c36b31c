import CLIP
import NeuralNet
import TensorEngine

/// How a family conditions its UNet on text, which decides what a cross-attention K/V shift made on
/// one model can act on: shift files record it, and one made for another family is refused.
public enum ConditioningFamily: String, Codable, Sendable, CaseIterable {
    /// SD 1.x / 2.x (and the embedded toy model): one text encoder's last hidden state.
    case stableDiffusion = "stable-diffusion"
    /// SDXL: two encoders' penultimate hidden states concatenated, the second's pooled embedding and
    /// the size/crop time ids through the "text_time" addition embedding.
    case stableDiffusionXL = "stable-diffusion-xl"

    public var displayName: String {
        switch self {
        case .stableDiffusion: return "Stable Diffusion 1.x / 2.x"
        case .stableDiffusionXL: return "Stable Diffusion XL"
        }
    }
}

/// What the erasure layer needs of a text-to-image pipeline beyond sampling, whatever its family:
/// prompt conditionings (context, and the pooled embedding where the family has one), the
/// unconditional one guidance uses, the UNet's added conditions for a latent size, the text
/// encoders a model fingerprint covers, and the VAE encoder for user images.
public protocol PromptConditionedPipeline: TextToImagePipeline {
    var conditioningFamily: ConditioningFamily { get }
    /// Every text encoder, in the pipeline's order: with the cross-attention K/V weights, what a
    /// shift's base-model fingerprint covers.
    var textEncoders: [Module] { get }
    /// Every module whose weights the pipeline holds, in order: the text encoders, the UNet and the VAE
    /// where it has one (what loading reads and what `ModelFingerprint.ofImageModel` covers).
    var imageModules: [Module] { get }
    /// The (first) tokenizer: word counts of prompts.
    var tokenizer: CLIPTokenizer { get }
    /// Each prompt's conditioning, no gradient. prompts: B -> [B, L, D] (+ [B, P])
    func conditioning(prompts: [String]) -> PromptConditioning
    /// What guidance uses for an absent negative prompt, `count` times: the encoded blank prompt, or
    /// zeros under SDXL's `force_zeros_for_empty_prompt`. -> [count, L, D] (+ [count, P])
    func unconditionalConditioning(count: Int) -> PromptConditioning
    /// The UNet's added conditions for `conditioning` on latents of `latentHeight` × `latentWidth`
    /// (SDXL: the pooled embedding and the time ids of that image size); nil for families without.
    func addedConditions(for conditioning: PromptConditioning, latentHeight: Int, latentWidth: Int) -> UNetAddedConditions?
    /// Pixels in [-1, 1] -> latents (the VAE's posterior mean × scaling factor, or the pixels).
    // pixels: [B, 3, H, W] -> [B, C, h, w]
    func encodeFromPixels(_ pixels: Tensor) throws -> Tensor
}

extension PromptConditionedPipeline {
    /// Width D of the cross-attention context (768 for SD1, 1024 for SD 2.x, 2048 for SDXL).
    public var contextWidth: Int { unet.crossAttentionDim }

    /// ε from the UNet's text-free start of some latents under `conditioning`, whose batch is the
    /// start's times k (k conditionings per latent, in the order of `concat([latents] * k)`). The
    /// start holds only what reads no text: on SDXL, whose timestep embedding carries the pooled
    /// text, that is the time features and conv_in, so sharing it across different pooled
    /// embeddings is exact (`UNet2DConditionModel.textFreeStart`).
    // start: of latents [B, C, h, w]; conditioning: [k·B, L, D] (+ [k·B, P]) -> [k·B, C, h, w]
    public func predictNoise(continuing start: UNet2DConditionModel.TextFreeStart, conditioning: PromptConditioning) -> Tensor {
        let added = addedConditions(for: conditioning, latentHeight: start.sampleHeight, latentWidth: start.sampleWidth)
        return unet(continuing: start, encoderHiddenStates: conditioning.context, addedConditions: added)
    }

    /// ε(x_t, t, c) for latents under k conditionings each (see `predictNoise(continuing:conditioning:)`).
    // latents: [B, C, h, w], conditioning: [k·B, L, D] (+ [k·B, P]) -> [k·B, C, h, w]
    public func predictNoise(_ latents: Tensor, timestep: Float, conditioning: PromptConditioning) -> Tensor {
        let start = unet.textFreeStart(latents, timesteps: [Float](repeating: timestep, count: latents.shape[0]))
        return predictNoise(continuing: start, conditioning: conditioning)
    }
}

extension StableDiffusionPipeline: PromptConditionedPipeline {
    public var conditioningFamily: ConditioningFamily { .stableDiffusion }
    public var textEncoders: [Module] { [textEncoder] }
    public var imageModules: [Module] { textEncoders + [unet] + (vae.map { [$0] } ?? []) }

    public func conditioning(prompts: [String]) -> PromptConditioning { PromptConditioning(context: encode(prompts: prompts)) }

    /// diffusers encodes "" for an absent negative prompt.
    public func unconditionalConditioning(count: Int) -> PromptConditioning { conditioning(prompts: [""]).repeated(count) }

    public func addedConditions(for conditioning: PromptConditioning, latentHeight: Int, latentWidth: Int) -> UNetAddedConditions? {
        nil
    }
}

extension StableDiffusionXLPipeline: PromptConditionedPipeline {
    public var conditioningFamily: ConditioningFamily { .stableDiffusionXL }
    public var textEncoders: [Module] { [textEncoder, textEncoder2] }
    public var imageModules: [Module] { textEncoders + [unet, vae] }

    public func conditioning(prompts: [String]) -> PromptConditioning {
        let e = encode(prompts: prompts)
        return PromptConditioning(context: e.context, pooled: e.pooled)
    }

    /// Zeros (context and pooled) under `force_zeros_for_empty_prompt`, else the encoded "", as
    /// `encode_prompt` does for classifier-free guidance without a negative prompt.
    public func unconditionalConditioning(count: Int) -> PromptConditioning {
        let blank = conditioning(prompts: [""])
        guard forceZerosForEmptyPrompt else { return blank.repeated(count) }
        let l = blank.context.shape[1]
        let p = blank.pooled?.shape[1] ?? 0
        return PromptConditioning(context: Tensor(zeros: [count, l, contextWidth]), pooled: Tensor(zeros: [count, p]))
    }

    /// The pooled embedding and `timeIds` of the image the latents decode to (latent size × the VAE
    /// factor), as `_get_add_time_ids` with diffusers' defaults.
    public func addedConditions(for conditioning: PromptConditioning, latentHeight: Int, latentWidth: Int) -> UNetAddedConditions? {
        let pooled = conditioning.pooled ?? Tensor(zeros: [conditioning.batch, textEncoder2.projectionDimension])
        let ids = Self.timeIds(width: latentWidth * vaeScaleFactor, height: latentHeight * vaeScaleFactor)
        return UNetAddedConditions(textEmbeds: pooled, sharedTimeIds: ids)
    }

    /// Pixels → latents: VAE mean × scaling_factor (deterministic).
    // pixels: [B, 3, H, W] in [-1, 1] -> [B, C, h, w]
    public func encodeFromPixels(_ pixels: Tensor) throws -> Tensor {
        try GradMode.withNoGrad { try vae.encode(pixels).mean * Float(vae.configuration.scalingFactor) }
    }
}
