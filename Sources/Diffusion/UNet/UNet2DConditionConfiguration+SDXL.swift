extension UNet2DConditionConfiguration {
    /// Stable Diffusion XL base 1.0 (stabilityai/stable-diffusion-xl-base-1.0, unet/config.json): a
    /// plain first level and two cross-attention levels (block_out_channels 320 / 640 / 1280,
    /// transformer_layers_per_block 1 / 2 / 10, attention_head_dim 5 / 10 / 20 heads), linear
    /// projections, a 2048-wide context (CLIP ViT-L 768 + OpenCLIP bigG 1280) and the "text_time"
    /// addition embedding (addition_time_embed_dim 256; 1280 pooled + 6 × 256 = 2816 inputs), 128 × 128
    /// latents. For benchmarks with random weights; models read their own config.json.
    public static let sdxlBase: UNet2DConditionConfiguration = {
        var c = UNet2DConditionConfiguration()
        c.downBlockTypes = [.plain, .crossAttention, .crossAttention]
        c.upBlockTypes = [.crossAttention, .crossAttention, .plain]
        c.blockOutChannels = [320, 640, 1280]
        c.attentionHeadDim = .many([5, 10, 20])
        c.transformerLayersPerBlock = .many([1, 2, 10])
        c.crossAttentionDim = .one(2048)
        c.useLinearProjection = true
        c.additionEmbedType = "text_time"
        c.additionTimeEmbedDim = 256
        c.projectionClassEmbeddingsInputDim = 2816
        c.sampleSize = .one(128)
        return c
    }()
}
