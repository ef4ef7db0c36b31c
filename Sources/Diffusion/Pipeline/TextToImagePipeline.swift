import TensorEngine

/// What a caller of text-to-image needs of a pipeline, whatever the model family
/// (`StableDiffusionPipeline` for SD 1.x / 2.x, `StableDiffusionXLPipeline`): the request checks
/// (`validate`, shared), a step-by-step run and the decoding of its latents.
public protocol TextToImagePipeline: AnyObject {
    var unet: UNet2DConditionModel { get }
    /// The VAE's configuration; nil for pixel-space models.
    var vaeConfiguration: AutoencoderKLConfiguration? { get }
    /// Where the model came from (folder or file), for messages.
    var source: String { get }
    /// The folder's scheduler configuration, from which every sampler is built.
    var schedulerConfiguration: SchedulerConfiguration { get }
    /// Spatial factor between image pixels and latents (1 without a VAE).
    var vaeScaleFactor: Int { get }
    /// Channels of the latents the UNet denoises.
    var latentChannels: Int { get }
    /// diffusers' default output size: unet.sample_size × vae scale factor, as (height, width).
    var defaultImageSize: (height: Int, width: Int) { get }
    /// diffusers' default `guidance_scale` of the family's pipeline (7.5 for `StableDiffusionPipeline`,
    /// 5.0 for `StableDiffusionXLPipeline`), used when a caller gives none.
    var defaultGuidanceScale: Float { get }
    /// Prepares a run (checked with `validate` first): prompt embeddings, seeded noise, timesteps.
    func makeRun(_ options: GenerationOptions) throws -> DenoisingRun
    /// Latents → images in [-1, 1].
    // latents: [B, C, h, w] -> [B, 3, H, W]
    func decodeToPixels(_ latents: Tensor) throws -> Tensor
}
