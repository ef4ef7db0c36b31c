import NeuralNet
import TensorEngine

/// diffusers attention.py `BasicTransformerBlock` (norm_type "layer_norm", GEGLU):
/// x += attn1(norm1(x)); x += attn2(norm2(x), context); x += ff(norm3(x)).
public final class BasicTransformerBlock: Module {
    public let norm1: LayerNorm
    public let attn1: Attention
    public let norm2: LayerNorm
    public let attn2: Attention
    public let norm3: LayerNorm
    public let ff: FeedForward

    public init(dim: Int, heads: Int, headDim: Int, crossAttentionDim: Int) {
        norm1 = LayerNorm(dim)
        attn1 = Attention(queryDim: dim, heads: heads, headDim: headDim)
        norm2 = LayerNorm(dim)
        attn2 = Attention(queryDim: dim, contextDim: crossAttentionDim, heads: heads, headDim: headDim)
        norm3 = LayerNorm(dim)
        ff = FeedForward(dim: dim)
    }

    // x: [B, L, dim], context: [B, Lc, Dc] -> [B, L, dim]
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        afterSelfAttention(selfAttention(x), context: context)
    }

    /// The part that does not read the text: x + attn1(norm1(x)).
    // x: [B, L, dim] -> [B, L, dim]
    func selfAttention(_ x: Tensor) -> Tensor { attn1(norm1(x)) + x }

    /// The rest: cross-attention and feed-forward, with their residuals.
    // h: [B, L, dim], context: [B, Lc, Dc] -> [B, L, dim]
    func afterSelfAttention(_ h: Tensor, context: Tensor) -> Tensor {
        let h = attn2(norm2(h), context: context) + h
        return ff(norm3(h)) + h
    }
}
