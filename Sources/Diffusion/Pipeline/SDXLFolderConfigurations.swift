import CLIP
import Foundation

/// Every configuration of an SDXL diffusers folder and both tokenizers, read, validated and checked
/// against each other without reading any weight: each tokenizer inside its encoder's vocabulary and
/// positions, the two encoders' widths adding up to the UNet's cross-attention width, the UNet's
/// "text_time" embedding taking the second encoder's `projection_dim` plus six time ids, the UNet's
/// channels equal to the VAE's latent channels. Mismatches throw `PipelineConsistencyError`.
public struct SDXLFolderConfigurations {
    public let tokenizer: CLIPTokenizer
    public let tokenizer2: CLIPTokenizer
    public let text: CLIPTextConfiguration
    public let text2: CLIPTextConfiguration
    /// `text_encoder_2`'s `projection_dim`: the pooled embedding's width.
    public let projectionDimension: Int
    public let unet: UNet2DConditionConfiguration
    public let vae: AutoencoderKLConfiguration
    public let scheduler: SchedulerConfiguration

    /// Time ids SDXL base passes (original size, crop top-left, target size).
    public static let timeIdCount = 6

    public init(folder: ModelFolder) throws {
        guard let textEncoder2 = folder.textEncoder2, let tokenizer2Folder = folder.tokenizer2 else {
            throw ModelFamilyMismatchError(path: folder.url.path, family: .stableDiffusion1, accepted: [.stableDiffusionXL])
        }
        guard let vaeFolder = folder.vae else {
            throw ModelFolder.Error.missingFile(folder.url.appendingPathComponent("vae").path, what: "the vae component")
        }
        tokenizer = try CLIPTokenizer(folder: folder.tokenizer)
        tokenizer2 = try CLIPTokenizer(folder: tokenizer2Folder)
        let textURL = folder.textEncoder.appendingPathComponent("config.json")
        let text2URL = textEncoder2.appendingPathComponent("config.json")
        let unetURL = folder.unet.appendingPathComponent("config.json")
        let vaeURL = vaeFolder.appendingPathComponent("config.json")
        text = try CLIPTextConfiguration.load(from: textURL)
        text2 = try CLIPTextConfiguration.load(from: text2URL)
        projectionDimension = try CLIPTextModelWithProjection.projectionDimension(configFile: text2URL)
        unet = try UNet2DConditionConfiguration.load(from: unetURL)
        vae = try AutoencoderKLConfiguration.load(from: vaeURL)
        scheduler = try SchedulerConfiguration.load(from: folder.schedulerConfig)

        try StableDiffusionPipeline.checkTokenizer(tokenizer, tokenizerSource: folder.tokenizer.path, text: text, textSource: textURL.path)
        try StableDiffusionPipeline.checkTokenizer(tokenizer2, tokenizerSource: tokenizer2Folder.path, text: text2, textSource: text2URL.path)
        // The two prompt embeddings are concatenated along the features: equal lengths are needed.
        guard tokenizer.modelMaxLength == tokenizer2.modelMaxLength else {
            throw PipelineConsistencyError.tokenizerLengthMismatch(
                tokenizers: [folder.tokenizer.path, tokenizer2Folder.path],
                modelMaxLengths: [tokenizer.modelMaxLength, tokenizer2.modelMaxLength])
        }
        let cross = unet.crossAttentionDim.all.first ?? 0
        guard text.hiddenSize + text2.hiddenSize == cross else {
            throw PipelineConsistencyError.textWidthSumMismatch(
                textEncoders: [textURL.path, text2URL.path], hiddenSizes: [text.hiddenSize, text2.hiddenSize],
                unet: unetURL.path, crossAttentionDim: cross)
        }
        guard unet.additionEmbedType == "text_time", let timeDim = unet.additionTimeEmbedDim,
            let inputDim = unet.projectionClassEmbeddingsInputDim
        else { throw PipelineConsistencyError.missingTextTimeEmbedding(unet: unetURL.path) }
        guard projectionDimension + Self.timeIdCount * timeDim == inputDim else {
            throw PipelineConsistencyError.pooledWidthMismatch(
                textEncoder: text2URL.path, projectionDim: projectionDimension, timeIds: Self.timeIdCount,
                unet: unetURL.path, timeEmbedDim: timeDim, projectionInputDim: inputDim)
        }
        try StableDiffusionPipeline.checkLatents(unet: unet, unetSource: unetURL.path, vae: vae, vaeSource: vaeURL.path)
    }
}
