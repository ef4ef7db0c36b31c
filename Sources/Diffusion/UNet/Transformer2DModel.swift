import NeuralNet
import TensorEngine

/// diffusers transformers/transformer_2d.py `Transformer2DModel` for continuous inputs:
/// GroupNorm(eps 1e-6) -> proj_in (1×1 conv, or Linear with use_linear_projection) -> tokens ->
/// transformer blocks -> proj_out -> + residual.
public final class Transformer2DModel: Module {
    public let norm: GroupNorm
    /// `Conv2d` (1×1) or `Linear` (use_linear_projection).
    public let proj_in: Module
    public let transformer_blocks: [BasicTransformerBlock]
    public let proj_out: Module

    public init(channels: Int, heads: Int, crossAttentionDim: Int, layers: Int, groups: Int, useLinearProjection: Bool) {
        let headDim = channels / heads
        let inner = heads * headDim
        norm = GroupNorm(groups: groups, channels: channels, eps: 1e-6)
        proj_in = useLinearProjection ? Linear(channels, inner) : Conv2d(channels, inner, kernelSize: 1)
        transformer_blocks = (0..<layers).map { _ in
            BasicTransformerBlock(dim: inner, heads: heads, headDim: headDim, crossAttentionDim: crossAttentionDim)
        }
        proj_out = useLinearProjection ? Linear(inner, channels) : Conv2d(inner, channels, kernelSize: 1)
    }

    // x: [B, C, H, W], context: [B, Lc, Dc] -> [B, C, H, W]
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        finish(textFreeStart(x), residual: x, context: context)
    }

    /// Everything before the first cross-attention, which does not read the text: norm, proj_in,
    /// and the first block's self-attention.
    // x: [B, C, H, W] -> tokens [B, HW, inner]
    func textFreeStart(_ x: Tensor) -> Tensor {
        let b = x.shape[0]
        let height = x.shape[2]
        let width = x.shape[3]
        func tokens(_ t: Tensor) -> Tensor {  // [B, C', H, W] -> [B, HW, C']
            t.permuted([0, 2, 3, 1]).reshaped([b, height * width, t.shape[1]])
        }
        let normed = norm(x)
        let h = (proj_in as? Linear).map { $0(tokens(normed)) } ?? tokens((proj_in as! Conv2d)(normed))
        return transformer_blocks[0].selfAttention(h)
    }

    /// The rest, from the first block's cross-attention on; `tokens` come from `textFreeStart(x)`
    /// and may be `x`'s batch repeated (one sample under several contexts).
    // tokens: [B, HW, inner], residual x: [B, C, H, W], context: [B, Lc, Dc] -> [B, C, H, W]
    func finish(_ tokens: Tensor, residual x: Tensor, context: Tensor) -> Tensor {
        let b = tokens.shape[0]
        let c = x.shape[1]
        let height = x.shape[2]
        let width = x.shape[3]
        precondition(x.shape[0] == b, "Transformer2DModel: residual batch \(x.shape[0]) != token batch \(b)")
        var h = transformer_blocks[0].afterSelfAttention(tokens, context: context)
        for block in transformer_blocks.dropFirst() { h = block(h, context: context) }  // [B, HW, inner]
        func image(_ t: Tensor) -> Tensor {  // [B, HW, C'] -> [B, C', H, W]
            t.reshaped([b, height, width, t.shape[2]]).permuted([0, 3, 1, 2])
        }
        let out: Tensor
        if let linear = proj_out as? Linear { out = image(linear(h)) } else { out = (proj_out as! Conv2d)(image(h)) }
        precondition(out.shape[1] == c)
        return out + x
    }
}
