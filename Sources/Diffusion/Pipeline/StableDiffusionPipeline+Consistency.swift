import CLIP
import Foundation

extension StableDiffusionPipeline {
    /// Checks that the parts of a model fit together, from their configurations alone (before any
    /// weight is allocated): tokenizer ids inside the text encoder's vocabulary, the padded prompt
    /// length inside its positions, the text width equal to the UNet's cross-attention width, and the
    /// UNet's channels equal to the VAE's latent channels (or an image's, without a VAE). The
    /// scheduler's own consistency (`steps_offset` below its timesteps) is checked when it is read.
    /// Each mismatch throws a `PipelineConsistencyError` naming both files.
    public static func checkConsistency(
        tokenizer: CLIPTokenizer, tokenizerSource: String,
        text: CLIPTextConfiguration, textSource: String,
        unet: UNet2DConditionConfiguration, unetSource: String,
        vae: AutoencoderKLConfiguration?, vaeSource: String
    ) throws {
        try checkTokenizer(tokenizer, tokenizerSource: tokenizerSource, text: text, textSource: textSource)
        // validate() has checked that every block shares one cross-attention width.
        let cross = unet.crossAttentionDim.all.first ?? 0
        guard text.hiddenSize == cross else {
            throw PipelineConsistencyError.textWidthMismatch(
                textEncoder: textSource, hiddenSize: text.hiddenSize,
                unet: unetSource, crossAttentionDim: cross)
        }
        // The UNet's forward requires added conditions exactly when it has "text_time"; this
        // pipeline has none to give.
        guard unet.additionEmbedType == nil else { throw PipelineConsistencyError.textTimeWithoutPooledText(unet: unetSource) }
        try checkLatents(unet: unet, unetSource: unetSource, vae: vae, vaeSource: vaeSource)
    }

    /// A tokenizer's ids inside its text encoder's vocabulary and its padded length inside the
    /// encoder's positions.
    static func checkTokenizer(
        _ tokenizer: CLIPTokenizer, tokenizerSource: String, text: CLIPTextConfiguration, textSource: String
    ) throws {
        guard tokenizer.vocabularySize <= text.vocabularySize else {
            throw PipelineConsistencyError.tokenizerVocabularyTooLarge(
                tokenizer: tokenizerSource, largestTokenId: tokenizer.vocabularySize - 1,
                textEncoder: textSource, vocabularySize: text.vocabularySize)
        }
        guard tokenizer.modelMaxLength <= text.maxPositionEmbeddings else {
            throw PipelineConsistencyError.sequenceLongerThanPositions(
                tokenizer: tokenizerSource, modelMaxLength: tokenizer.modelMaxLength, assumed: tokenizer.modelMaxLengthIsAssumed,
                textEncoder: textSource, maxPositionEmbeddings: text.maxPositionEmbeddings)
        }
    }

    /// The UNet's channels equal to the VAE's latent channels (or an image's, without a VAE).
    static func checkLatents(
        unet: UNet2DConditionConfiguration, unetSource: String, vae: AutoencoderKLConfiguration?, vaeSource: String
    ) throws {
        if let vae {
            for (field, channels) in [("in_channels", unet.inChannels), ("out_channels", unet.outChannels)] where channels != vae.latentChannels {
                throw PipelineConsistencyError.latentChannelMismatch(
                    unet: unetSource, field: field, channels: channels,
                    vae: vaeSource, latentChannels: vae.latentChannels)
            }
            guard vae.outChannels == 3 || vae.outChannels == 1 else {
                throw PipelineConsistencyError.imageChannelMismatch(vae: vaeSource, outChannels: vae.outChannels)
            }
        } else {
            guard unet.inChannels == unet.outChannels, unet.inChannels == 3 || unet.inChannels == 1 else {
                throw PipelineConsistencyError.pixelChannelMismatch(
                    unet: unetSource, inChannels: unet.inChannels,
                    outChannels: unet.outChannels)
            }
        }
    }
}

/// Every configuration of a diffusers folder and its tokenizer, read, validated and checked against
/// each other (`StableDiffusionPipeline.checkConsistency`) without reading any weight: the first
/// stage of loading a folder, cheap enough to run on its own.
public struct FolderConfigurations {
    public let tokenizer: CLIPTokenizer
    public let text: CLIPTextConfiguration
    public let unet: UNet2DConditionConfiguration
    public let vae: AutoencoderKLConfiguration?
    public let scheduler: SchedulerConfiguration

    public init(folder: ModelFolder) throws {
        tokenizer = try CLIPTokenizer(folder: folder.tokenizer)
        let textURL = folder.textEncoder.appendingPathComponent("config.json")
        let unetURL = folder.unet.appendingPathComponent("config.json")
        let vaeURL = folder.vae?.appendingPathComponent("config.json")
        text = try CLIPTextConfiguration.load(from: textURL)
        unet = try UNet2DConditionConfiguration.load(from: unetURL)
        vae = try vaeURL.map { try AutoencoderKLConfiguration.load(from: $0) }
        scheduler = try SchedulerConfiguration.load(from: folder.schedulerConfig)
        try StableDiffusionPipeline.checkConsistency(
            tokenizer: tokenizer, tokenizerSource: folder.tokenizer.path,
            text: text, textSource: textURL.path,
            unet: unet, unetSource: unetURL.path,
            vae: vae, vaeSource: vaeURL?.path ?? "")
    }
}
