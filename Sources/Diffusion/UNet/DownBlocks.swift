import NeuralNet
import TensorEngine

/// diffusers unet_2d_blocks.py `DownBlock2D`: resnets, then an optional stride-2 downsampler.
/// Returns the output and every intermediate state for the skip connections.
public class DownBlock2D: Module {
    public let resnets: [ResnetBlock2D]
    /// Empty for the last block, else one `Downsample2D` (key `downsamplers.0.conv`).
    public let downsamplers: [Downsample2D]

    init(inChannels: Int, outChannels: Int, layers: Int, timeEmbedDim: Int, groups: Int, eps: Float, addDownsample: Bool) {
        resnets = (0..<layers).map { i in
            ResnetBlock2D(
                inChannels: i == 0 ? inChannels : outChannels, outChannels: outChannels,
                timeEmbedDim: timeEmbedDim, groups: groups, eps: eps)
        }
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels)] : []
    }

    /// The transformer after resnet `index`, if any (none here).
    func attention(after index: Int, _ h: Tensor, context: Tensor) -> Tensor { h }

    // x: [B, Cin, H, W], temb: [B, T], context: [B, Lc, Dc]
    //   -> ([B, Cout, H', W'], skip states: layers × [B, Cout, H, W] (+ [B, Cout, H', W']))
    func forward(_ x: Tensor, temb: Tensor, context: Tensor) -> (Tensor, [Tensor]) {
        forward(from: 0, x, skips: [], temb: temb, context: context)
    }

    /// Resnets `first...` (each with its transformer) on `x`, then the downsampler; `skips` holds
    /// the states of the resnets before `first`.
    func forward(from first: Int, _ x: Tensor, skips earlier: [Tensor], temb: Tensor, context: Tensor) -> (Tensor, [Tensor]) {
        var h = x
        var skips = earlier
        for i in first..<resnets.count {
            h = attention(after: i, resnets[i](h, temb: temb), context: context)
            skips.append(h)
        }
        for downsampler in downsamplers {
            h = downsampler(h)
            skips.append(h)
        }
        return (h, skips)
    }
}

/// diffusers unet_2d_blocks.py `CrossAttnDownBlock2D`: (resnet, transformer) pairs, then an optional
/// downsampler.
public final class CrossAttnDownBlock2D: DownBlock2D {
    public let attentions: [Transformer2DModel]

    init(
        inChannels: Int, outChannels: Int, layers: Int, timeEmbedDim: Int, groups: Int, eps: Float, addDownsample: Bool,
        heads: Int, crossAttentionDim: Int, transformerLayers: Int, useLinearProjection: Bool
    ) {
        attentions = (0..<layers).map { _ in
            Transformer2DModel(
                channels: outChannels, heads: heads, crossAttentionDim: crossAttentionDim,
                layers: transformerLayers, groups: groups, useLinearProjection: useLinearProjection)
        }
        super.init(
            inChannels: inChannels, outChannels: outChannels, layers: layers, timeEmbedDim: timeEmbedDim,
            groups: groups, eps: eps, addDownsample: addDownsample)
    }

    // h: [B, C, H, W] -> [B, C, H, W]
    override func attention(after index: Int, _ h: Tensor, context: Tensor) -> Tensor {
        attentions[index](h, context: context)
    }

    /// What comes before the block's first cross-attention: the first resnet's output and the
    /// first transformer's tokens after its self-attention.
    // x: [B, Cin, H, W], temb: [B, T] -> ([B, Cout, H, W], [B, HW, inner])
    func textFreeStart(_ x: Tensor, temb: Tensor) -> (resnet: Tensor, tokens: Tensor) {
        let h = resnets[0](x, temb: temb)
        return (h, attentions[0].textFreeStart(h))
    }

    /// `forward` from a `textFreeStart` (whose batch may be repeated to the context's).
    func forward(resuming start: (resnet: Tensor, tokens: Tensor), temb: Tensor, context: Tensor) -> (Tensor, [Tensor]) {
        let h = attentions[0].finish(start.tokens, residual: start.resnet, context: context)
        return forward(from: 1, h, skips: [h], temb: temb, context: context)
    }
}

/// diffusers unet_2d_blocks.py `UNetMidBlock2DCrossAttn`: resnet, then (transformer, resnet) pairs.
public final class UNetMidBlock2DCrossAttn: Module {
    public let attentions: [Transformer2DModel]
    public let resnets: [ResnetBlock2D]

    init(
        channels: Int, timeEmbedDim: Int, groups: Int, eps: Float, outputScaleFactor: Float,
        heads: Int, crossAttentionDim: Int, transformerLayers: Int, useLinearProjection: Bool
    ) {
        attentions = [
            Transformer2DModel(
                channels: channels, heads: heads, crossAttentionDim: crossAttentionDim,
                layers: transformerLayers, groups: groups, useLinearProjection: useLinearProjection)
        ]
        resnets = (0..<2).map { _ in
            ResnetBlock2D(
                inChannels: channels, outChannels: channels, timeEmbedDim: timeEmbedDim, groups: groups,
                eps: eps, outputScaleFactor: outputScaleFactor)
        }
    }

    // x: [B, C, H, W], temb: [B, T], context: [B, Lc, Dc] -> [B, C, H, W]
    func forward(_ x: Tensor, temb: Tensor, context: Tensor) -> Tensor {
        var h = resnets[0](x, temb: temb)
        for (attention, resnet) in zip(attentions, resnets.dropFirst()) {
            h = resnet(attention(h, context: context), temb: temb)
        }
        return h
    }
}
