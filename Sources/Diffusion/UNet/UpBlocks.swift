import NeuralNet
import TensorEngine

/// diffusers unet_2d_blocks.py `UpBlock2D`: each resnet takes the running state concatenated (on
/// channels) with the next skip state from the end; then an optional nearest-2× upsampler.
public class UpBlock2D: Module {
    public let resnets: [ResnetBlock2D]
    /// Empty for the last block, else one `Upsample2D` (key `upsamplers.0.conv`).
    public let upsamplers: [Upsample2D]

    /// `inChannels`: width of this level's down block input (the last skip); `previousChannels`:
    /// width of the incoming state; `layers` = layers_per_block + 1.
    init(
        inChannels: Int, previousChannels: Int, outChannels: Int, layers: Int, timeEmbedDim: Int,
        groups: Int, eps: Float, addUpsample: Bool
    ) {
        resnets = (0..<layers).map { i in
            let skipChannels = i == layers - 1 ? inChannels : outChannels
            let stateChannels = i == 0 ? previousChannels : outChannels
            return ResnetBlock2D(
                inChannels: stateChannels + skipChannels, outChannels: outChannels,
                timeEmbedDim: timeEmbedDim, groups: groups, eps: eps)
        }
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels)] : []
    }

    /// The transformer after resnet `index`, if any (none here).
    func attention(after index: Int, _ h: Tensor, context: Tensor) -> Tensor { h }

    // x: [B, Cprev, H, W], skips: layers states (used last first), temb: [B, T], context: [B, Lc, Dc]
    //   -> [B, Cout, 2H, 2W] (or upsampleSize, or [B, Cout, H, W] without upsampler)
    func forward(_ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor, upsampleSize: (Int, Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "UpBlock2D: \(skips.count) skip states for \(resnets.count) resnets")
        var h = x
        for (i, resnet) in resnets.enumerated() {
            let skip = skips[skips.count - 1 - i]
            h = attention(after: i, resnet(Tensor.concat([h, skip], axis: 1), temb: temb), context: context)
        }
        for upsampler in upsamplers { h = upsampler(h, outputSize: upsampleSize) }
        return h
    }
}

/// diffusers unet_2d_blocks.py `CrossAttnUpBlock2D`: (resnet on concatenated skip, transformer) pairs,
/// then an optional upsampler.
public final class CrossAttnUpBlock2D: UpBlock2D {
    public let attentions: [Transformer2DModel]

    init(
        inChannels: Int, previousChannels: Int, outChannels: Int, layers: Int, timeEmbedDim: Int,
        groups: Int, eps: Float, addUpsample: Bool,
        heads: Int, crossAttentionDim: Int, transformerLayers: Int, useLinearProjection: Bool
    ) {
        attentions = (0..<layers).map { _ in
            Transformer2DModel(
                channels: outChannels, heads: heads, crossAttentionDim: crossAttentionDim,
                layers: transformerLayers, groups: groups, useLinearProjection: useLinearProjection)
        }
        super.init(
            inChannels: inChannels, previousChannels: previousChannels, outChannels: outChannels, layers: layers,
            timeEmbedDim: timeEmbedDim, groups: groups, eps: eps, addUpsample: addUpsample)
    }

    // h: [B, C, H, W] -> [B, C, H, W]
    override func attention(after index: Int, _ h: Tensor, context: Tensor) -> Tensor {
        attentions[index](h, context: context)
    }
}
