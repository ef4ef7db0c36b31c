/// Why the parts of a model folder or checkpoint do not fit together. Found at load time, before any
/// weight is read; every message names the files and the values that disagree.
public enum PipelineConsistencyError: Error, CustomStringConvertible, Equatable {
    /// The tokenizer produces ids up to `largestTokenId`, the text encoder embeds only `vocabularySize` rows.
    case tokenizerVocabularyTooLarge(tokenizer: String, largestTokenId: Int, textEncoder: String, vocabularySize: Int)
    /// The tokenizer pads prompts to `modelMaxLength` ids (`assumed`: no tokenizer_config.json, so 77),
    /// the text encoder has only `maxPositionEmbeddings` positions.
    case sequenceLongerThanPositions(tokenizer: String, modelMaxLength: Int, assumed: Bool, textEncoder: String, maxPositionEmbeddings: Int)
    /// The text encoder's width differs from the UNet's cross-attention width.
    case textWidthMismatch(textEncoder: String, hiddenSize: Int, unet: String, crossAttentionDim: Int)
    /// The UNet's input or output channels differ from the VAE's latent channels.
    case latentChannelMismatch(unet: String, field: String, channels: Int, vae: String, latentChannels: Int)
    /// A model without a VAE works on pixels: its UNet must map `in_channels` 1 or 3 to as many.
    case pixelChannelMismatch(unet: String, inChannels: Int, outChannels: Int)
    /// The VAE decodes to a channel count that is not an image (1 or 3).
    case imageChannelMismatch(vae: String, outChannels: Int)
    /// SDXL: the two text encoders' widths do not add up to the UNet's cross-attention width.
    case textWidthSumMismatch(textEncoders: [String], hiddenSizes: [Int], unet: String, crossAttentionDim: Int)
    /// SDXL: the two tokenizers pad prompts to different lengths, so their embeddings cannot be
    /// concatenated along the features.
    case tokenizerLengthMismatch(tokenizers: [String], modelMaxLengths: [Int])
    /// SD 1.x / 2.x: the UNet has `addition_embed_type` "text_time", which needs the pooled text
    /// embedding and time ids that only an SDXL folder (`text_encoder_2`) provides.
    case textTimeWithoutPooledText(unet: String)
    /// SDXL: the UNet has no `addition_embed_type` "text_time" for the pooled text and time ids.
    case missingTextTimeEmbedding(unet: String)
    /// SDXL: the second encoder's `projection_dim` plus `timeIds` × `addition_time_embed_dim` differs
    /// from the UNet's `projection_class_embeddings_input_dim`.
    case pooledWidthMismatch(textEncoder: String, projectionDim: Int, timeIds: Int, unet: String, timeEmbedDim: Int, projectionInputDim: Int)

    public var description: String {
        switch self {
        case let .tokenizerVocabularyTooLarge(tokenizer, largest, textEncoder, vocabularySize):
            return "\(tokenizer): the tokenizer has token ids up to \(largest), but the text encoder (\(textEncoder)) "
                + "has vocab_size \(vocabularySize); expected every id below \(vocabularySize)"
        case let .sequenceLongerThanPositions(tokenizer, length, assumed, textEncoder, positions):
            let what = assumed ? "model_max_length is not set (no tokenizer_config.json), so \(length) is assumed" : "model_max_length is \(length)"
            return "\(tokenizer): \(what), but the text encoder (\(textEncoder)) has max_position_embeddings \(positions); "
                + "expected at most \(positions)"
        case let .textWidthMismatch(textEncoder, hidden, unet, cross):
            return "\(textEncoder): hidden_size \(hidden) differs from the UNet's cross_attention_dim \(cross) (\(unet)); expected them equal"
        case let .latentChannelMismatch(unet, field, channels, vae, latent):
            return "\(unet): \(field) \(channels) differs from the VAE's latent_channels \(latent) (\(vae)); expected them equal"
        case let .pixelChannelMismatch(unet, inChannels, outChannels):
            return "\(unet): a model without a VAE denoises pixels, so in_channels and out_channels must both be 1 or 3; "
                + "found \(inChannels) and \(outChannels)"
        case let .imageChannelMismatch(vae, out):
            return "\(vae): out_channels \(out) is not an image's channel count (expected 1 or 3)"
        case let .textWidthSumMismatch(encoders, sizes, unet, cross):
            return "\(encoders.joined(separator: " and ")): hidden_size \(sizes.map(String.init).joined(separator: " + ")) = "
                + "\(sizes.reduce(0, +)) differs from the UNet's cross_attention_dim \(cross) (\(unet)); expected them equal"
        case let .tokenizerLengthMismatch(tokenizers, lengths):
            return "\(tokenizers.joined(separator: " and ")): model_max_length \(lengths.map(String.init).joined(separator: " and ")) "
                + "differ; the two prompt embeddings are concatenated, so expected them equal"
        case let .textTimeWithoutPooledText(unet):
            return "\(unet): addition_embed_type \"text_time\" is a Stable Diffusion XL UNet's; it needs the pooled embedding of a "
                + "second text encoder (text_encoder_2), which this Stable Diffusion 1.x / 2.x model does not have"
        case let .missingTextTimeEmbedding(unet):
            return "\(unet): a Stable Diffusion XL UNet needs addition_embed_type \"text_time\" (pooled text and time ids); found none"
        case let .pooledWidthMismatch(textEncoder, projection, ids, unet, timeDim, inputDim):
            return "\(textEncoder): projection_dim \(projection) + \(ids) time ids × addition_time_embed_dim \(timeDim) = "
                + "\(projection + ids * timeDim) differs from the UNet's projection_class_embeddings_input_dim \(inputDim) (\(unet)); "
                + "expected them equal"
        }
    }
}
