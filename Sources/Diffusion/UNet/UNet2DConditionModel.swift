import NeuralNet
import TensorEngine

/// diffusers unets/unet_2d_condition.py `UNet2DConditionModel` for the Stable Diffusion v1 family:
/// the noise-prediction network ε(x_t, t, c). Property names are diffusers' state-dict keys.
///
/// All parameters start frozen (`requiresGrad == false`); gradients flow through the frozen network
/// to whatever requires them (encoder states, `Linear.adapter` shifts, or chosen weights).
public final class UNet2DConditionModel: Module {
    public let conv_in: Conv2d
    public let time_embedding: TimestepEmbedding
    /// `DownBlock2D` or `CrossAttnDownBlock2D` per level.
    public let down_blocks: [DownBlock2D]
    public let mid_block: UNetMidBlock2DCrossAttn
    /// `UpBlock2D` or `CrossAttnUpBlock2D` per level, deepest first.
    public let up_blocks: [UpBlock2D]
    public let conv_norm_out: GroupNorm
    public let conv_out: Conv2d
    public let configuration: UNet2DConditionConfiguration

    /// Builds the architecture with zero weights (norm weights 1); `source` names the configuration in
    /// errors. Use `load(folder:)` for a checkpoint or `initializeRandomly(seed:)` for benchmarks.
    public init(configuration: UNet2DConditionConfiguration, source: String = "UNet2DConditionConfiguration") throws {
        let r = try configuration.resolved(source: source)
        let c = configuration, n = r.blockCount, channels = c.blockOutChannels
        let temb = r.timeEmbeddingDim
        self.configuration = configuration
        conv_in = Conv2d(c.inChannels, channels[0], kernelSize: 3, padding: 1)
        time_embedding = TimestepEmbedding(inChannels: channels[0], timeEmbedDim: temb)

        down_blocks = (0..<n).map { i in
            let input = i == 0 ? channels[0] : channels[i - 1]
            let last = i == n - 1
            if c.downBlockTypes[i] == "CrossAttnDownBlock2D" {
                return CrossAttnDownBlock2D(inChannels: input, outChannels: channels[i], layers: r.layersPerBlock[i],
                                            timeEmbedDim: temb, groups: r.groups, eps: r.eps, addDownsample: !last,
                                            heads: r.attentionHeads[i], crossAttentionDim: r.crossAttentionDim,
                                            transformerLayers: r.transformerLayers[i], useLinearProjection: c.useLinearProjection)
            }
            return DownBlock2D(inChannels: input, outChannels: channels[i], layers: r.layersPerBlock[i],
                               timeEmbedDim: temb, groups: r.groups, eps: r.eps, addDownsample: !last)
        }
        mid_block = UNetMidBlock2DCrossAttn(channels: channels[n - 1], timeEmbedDim: temb, groups: r.groups, eps: r.eps,
                                            outputScaleFactor: Float(c.midBlockScaleFactor), heads: r.attentionHeads[n - 1],
                                            crossAttentionDim: r.crossAttentionDim, transformerLayers: r.transformerLayers[n - 1],
                                            useLinearProjection: c.useLinearProjection)
        // Up level j mirrors down level n-1-j (unet_2d_condition.py: reversed_* lists).
        up_blocks = (0..<n).map { j in
            let level = n - 1 - j
            let previous = j == 0 ? channels[n - 1] : channels[level + 1]
            let input = channels[max(level - 1, 0)]
            let last = j == n - 1
            if c.upBlockTypes[j] == "CrossAttnUpBlock2D" {
                return CrossAttnUpBlock2D(inChannels: input, previousChannels: previous, outChannels: channels[level],
                                          layers: r.layersPerBlock[level] + 1, timeEmbedDim: temb, groups: r.groups,
                                          eps: r.eps, addUpsample: !last, heads: r.attentionHeads[level],
                                          crossAttentionDim: r.crossAttentionDim, transformerLayers: r.transformerLayers[level],
                                          useLinearProjection: c.useLinearProjection)
            }
            return UpBlock2D(inChannels: input, previousChannels: previous, outChannels: channels[level],
                             layers: r.layersPerBlock[level] + 1, timeEmbedDim: temb, groups: r.groups, eps: r.eps,
                             addUpsample: !last)
        }
        conv_norm_out = GroupNorm(groups: r.groups, channels: channels[0], eps: r.eps)
        conv_out = Conv2d(channels[0], c.outChannels, kernelSize: 3, padding: 1)
    }

    /// Width of the encoder hidden states the cross-attention layers take.
    public var crossAttentionDim: Int { configuration.crossAttentionDim.all[0] }

    /// Every cross-attention layer (`…transformer_blocks.k.attn2`) in diffusers' module order, keyed
    /// by its state-dict path (SD1: 16 layers).
    public func crossAttentionLayers() -> [(key: String, attention: Attention)] {
        namedModules().compactMap { key, module in
            guard key.hasSuffix(".attn2"), let attention = module as? Attention else { return nil }
            return (key: key, attention: attention)
        }
    }

    /// Predicted noise ε for `sample` at `timesteps` (one per batch item, or one for all) under
    /// `encoderHiddenStates`; diffusers `UNet2DConditionModel.forward` without the optional inputs.
    // sample: [B, Cin, H, W], encoderHiddenStates: [B, L, Dc] -> [B, Cout, H, W]
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        let c = configuration
        precondition(sample.rank == 4 && sample.shape[1] == c.inChannels,
                     "UNet2DConditionModel: sample must be [B, \(c.inChannels), H, W], got \(sample.shape)")
        let b = sample.shape[0]
        precondition(encoderHiddenStates.rank == 3 && encoderHiddenStates.shape[0] == b
                     && encoderHiddenStates.shape[2] == crossAttentionDim,
                     "UNet2DConditionModel: encoder hidden states must be [\(b), L, \(crossAttentionDim)], got \(encoderHiddenStates.shape)")
        precondition(timesteps.count == b || timesteps.count == 1,
                     "UNet2DConditionModel: \(timesteps.count) timesteps for a batch of \(b)")
        let context = encoderHiddenStates

        // Timestep embedding (embeddings.py Timesteps + TimestepEmbedding).
        let perItem = timesteps.count == b ? timesteps : Array(repeating: timesteps[0], count: b)
        let features = SinusoidalTimestepFeatures.make(perItem, dim: c.blockOutChannels[0], flipSinToCos: c.flipSinToCos,
                                                      downscaleFreqShift: Float(c.freqShift))   // [B, C0]
        let temb = time_embedding(features)                                                     // [B, 4·C0]

        // Sizes not divisible by the overall upsampling factor: upsample to each skip's size.
        let factor = 1 << (down_blocks.count - 1)
        let forwardUpsampleSize = sample.shape[2] % factor != 0 || sample.shape[3] % factor != 0

        var h = c.centerInputSample ? sample * 2 - 1 : sample
        h = conv_in(h)                                                                          // [B, C0, H, W]
        var skips: [Tensor] = [h]
        for block in down_blocks {
            let (out, states) = block.forward(h, temb: temb, context: context)
            h = out
            skips += states
        }
        h = mid_block.forward(h, temb: temb, context: context)                                  // [B, Cn, H/f, W/f]
        for (j, block) in up_blocks.enumerated() {
            let used = Array(skips.suffix(block.resnets.count))
            skips.removeLast(block.resnets.count)
            var size: (Int, Int)? = nil
            if forwardUpsampleSize, j < up_blocks.count - 1, let next = skips.last { size = (next.shape[2], next.shape[3]) }
            h = block.forward(h, skips: used, temb: temb, context: context, upsampleSize: size)
        }
        h = conv_norm_out(h).silu()                                                             // [B, C0, H, W]
        return conv_out(h)                                                                      // [B, Cout, H, W]
    }
}
