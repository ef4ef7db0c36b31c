import NeuralNet
import TensorEngine

/// diffusers attention_processor.py `Attention` with `AttnProcessor2_0` as used by SD1's
/// BasicTransformerBlock: bias-free q/k/v projections, multi-head scaled dot-product attention,
/// output projection with bias. Every projection is a NeuralNet `Linear`, so `Linear.adapter` can
/// shift the key / value projections of cross-attention (SepME).
public final class Attention: Module {
    public let to_q: Linear
    public let to_k: Linear
    public let to_v: Linear
    /// [Linear, Dropout placeholder], keys `to_out.0.*`.
    public let to_out: [Module]
    public let heads: Int
    public let headDim: Int

    /// `contextDim` is the width of the keys' source (query width for self-attention).
    public init(queryDim: Int, contextDim: Int? = nil, heads: Int, headDim: Int) {
        let inner = heads * headDim
        to_q = Linear(queryDim, inner, bias: false)
        to_k = Linear(contextDim ?? queryDim, inner, bias: false)
        to_v = Linear(contextDim ?? queryDim, inner, bias: false)
        to_out = [Linear(inner, queryDim), Identity()]
        self.heads = heads
        self.headDim = headDim
    }

    /// The output projection `to_out.0`.
    public var outputProjection: Linear { to_out[0] as! Linear }

    // x: [B, Lq, Dq], context: [B, Lk, Dc] (nil: self-attention) -> [B, Lq, Dq]
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        let source = context ?? x
        // [B, Lq, H·d] attended over [B, Lk, H·d] head by head
        let attended = Tensor.multiHeadAttention(to_q(x), to_k(source), to_v(source), heads: heads)
        return outputProjection(attended)
    }
}
