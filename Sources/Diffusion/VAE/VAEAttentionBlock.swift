import NeuralNet
import TensorEngine

/// diffusers `Attention` with `AttnProcessor2_0` as the VAE mid block builds it
/// (`_from_deprecated_attn_block`): one head over the H·W positions, GroupNorm first, biased
/// projections, residual connection, output scale 1.
public final class VAEAttentionBlock: Module {
    let group_norm: GroupNorm
    let to_q: Linear
    let to_k: Linear
    let to_v: Linear
    /// `to_out.0` is the output Linear, `to_out.1` a Dropout.
    let to_out: [Module]

    public init(channels: Int, groups: Int, eps: Float = 1e-6) {
        group_norm = GroupNorm(groups: groups, channels: channels, eps: eps)
        to_q = Linear(channels, channels)
        to_k = Linear(channels, channels)
        to_v = Linear(channels, channels)
        to_out = [Linear(channels, channels), Identity()]
    }

    // x: [B, C, H, W] -> [B, C, H, W]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        // tokens: [B, H·W, C]
        let tokens = group_norm(x).reshaped([b, c, h * w]).transposed(1, 2)
        let q = to_q(tokens)
        let k = to_k(tokens)
        let v = to_v(tokens)
        // single head: [B, L, C] is the [B·heads, L, D] layout with heads = 1, scale 1/√C
        let attended = Tensor.scaledDotProductAttention(q, k, v)
        let projected = (to_out[0] as! Linear)(attended)
        return projected.transposed(1, 2).reshaped([b, c, h, w]) + x
    }
}
