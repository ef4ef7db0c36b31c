import NeuralNet
import TensorEngine

/// Multi-head self-attention of a CLIP encoder layer (transformers models/clip/modeling_clip.py
/// CLIPAttention with eager_attention_forward): softmax(q kᵀ / √d + mask) v, projections with bias.
///
/// Written as explicit matmul + additive mask + softmax + matmul: the text encoder's sequences are at
/// most 77 tokens, so the [L, L] score matrix is small, and every step is differentiable.
public final class CLIPAttention: Module {
    public let k_proj: Linear
    public let v_proj: Linear
    public let q_proj: Linear
    public let out_proj: Linear
    public let headCount: Int
    public let scale: Float

    public init(hiddenSize: Int, headCount: Int) {
        precondition(
            headCount > 0 && hiddenSize % headCount == 0,
            "CLIPAttention: hidden size \(hiddenSize) not divisible by \(headCount) heads")
        k_proj = Linear(hiddenSize, hiddenSize)
        v_proj = Linear(hiddenSize, hiddenSize)
        q_proj = Linear(hiddenSize, hiddenSize)
        out_proj = Linear(hiddenSize, hiddenSize)
        self.headCount = headCount
        scale = 1 / Float(hiddenSize / headCount).squareRoot()
    }

    /// Additive causal mask [L, L]: 0 where key j <= query i, -inf above the diagonal.
    public static func causalMask(length: Int) -> Tensor {
        let mask = Tensor(zeros: [length, length])
        for i in 0..<length {
            for j in (i + 1)..<max(i + 1, length) { mask.pointer[i * length + j] = -.infinity }
        }
        return mask
    }

    // x: [B, L, D], mask: [L, L] additive (or nil) -> [B, L, D]
    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let b = x.dim(0)
        let l = x.dim(1)
        let d = x.dim(2)
        let h = headCount
        let dh = d / h
        // [B, L, D] -> [B, H, L, Dh]
        func heads(_ t: Tensor) -> Tensor { t.reshaped([b, l, h, dh]).permuted([0, 2, 1, 3]) }
        let q = heads(q_proj(x))
        let k = heads(k_proj(x))
        let v = heads(v_proj(x))
        var scores = Tensor.matmul(q, k.mT) * scale  // [B, H, L, L]
        if let mask { scores = scores + mask }
        let context = Tensor.matmul(scores.softmax(), v)  // [B, H, L, Dh]
        return out_proj(context.permuted([0, 2, 1, 3]).reshaped([b, l, d]))
    }
}
