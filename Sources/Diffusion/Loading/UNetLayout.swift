/// The facts about a diffusers `UNet2DConditionModel` configuration that decide how the original
/// (CompVis) UNet keys `input_blocks.* / middle_block.* / output_blocks.*` are numbered.
///
/// Only the block structure matters: channel widths, head counts and the depth of each
/// `Transformer2DModel` (`transformer_layers_per_block`; SD1.x uses 1) do not change the numbering,
/// because attention sub-keys (`norm`, `proj_in`, `transformer_blocks.N.*`, `proj_out`) have the same
/// names in both layouts. The mid block is a `UNetMidBlock2DCrossAttn` (resnet, attention, resnet).
public struct UNetLayout: Equatable, Sendable {
    /// One entry per down block: whether it has attentions (`CrossAttnDownBlock2D`).
    public var downBlocksWithAttention: [Bool]
    /// One entry per up block, in diffusers order: whether it has attentions (`CrossAttnUpBlock2D`).
    public var upBlocksWithAttention: [Bool]
    /// `layers_per_block`: resnets per down block; up blocks have one more.
    public var layersPerBlock: Int
    /// Whether the UNet has SDXL's `addition_embed_type: "text_time"` embedding, which the original
    /// layout stores as `label_emb.0.0` / `label_emb.0.2` (diffusers' `add_embedding.linear_1` / `linear_2`).
    public var hasTextTimeEmbedding: Bool

    public init(downBlocksWithAttention: [Bool], upBlocksWithAttention: [Bool], layersPerBlock: Int, hasTextTimeEmbedding: Bool = false) {
        self.downBlocksWithAttention = downBlocksWithAttention
        self.upBlocksWithAttention = upBlocksWithAttention
        self.layersPerBlock = max(0, layersPerBlock)
        self.hasTextTimeEmbedding = hasTextTimeEmbedding
    }

    /// From diffusers' config values `down_block_types`, `up_block_types`, `layers_per_block`
    /// (and whether `addition_embed_type` is "text_time"). Throws for `layers_per_block` below 1.
    public init(
        downBlockTypes: [UNetDownBlockType], upBlockTypes: [UNetUpBlockType], layersPerBlock: Int, hasTextTimeEmbedding: Bool = false
    ) throws {
        guard layersPerBlock >= 1 else {
            throw SingleFileCheckpointError.unsupportedLayout("UNet layers_per_block \(layersPerBlock) (expected >= 1)")
        }
        self.init(
            downBlocksWithAttention: downBlockTypes.map(\.hasCrossAttention),
            upBlocksWithAttention: upBlockTypes.map(\.hasCrossAttention),
            layersPerBlock: layersPerBlock, hasTextTimeEmbedding: hasTextTimeEmbedding)
    }

    /// Stable Diffusion 1.x: three attention down blocks and a plain one, mirrored going up, 2 layers.
    public static let stableDiffusion1 = UNetLayout(
        downBlocksWithAttention: [true, true, true, false], upBlocksWithAttention: [false, true, true, true], layersPerBlock: 2)
}
