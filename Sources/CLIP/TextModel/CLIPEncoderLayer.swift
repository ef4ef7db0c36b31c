import NeuralNet
import TensorEngine

/// One pre-norm transformer layer of CLIP (transformers modeling_clip.py CLIPEncoderLayer):
/// x + attn(ln1(x)), then x + mlp(ln2(x)).
public final class CLIPEncoderLayer: Module {
    public let self_attn: CLIPAttention
    public let layer_norm1: LayerNorm
    public let mlp: CLIPMLP
    public let layer_norm2: LayerNorm

    public init(_ config: CLIPTextConfiguration) {
        self_attn = CLIPAttention(hiddenSize: config.hiddenSize, headCount: config.headCount)
        layer_norm1 = LayerNorm(config.hiddenSize, eps: config.layerNormEps)
        mlp = CLIPMLP(
            hiddenSize: config.hiddenSize, intermediateSize: config.intermediateSize,
            activation: config.hiddenActivation)
        layer_norm2 = LayerNorm(config.hiddenSize, eps: config.layerNormEps)
    }

    // x: [B, L, D], mask: [L, L] additive -> [B, L, D]
    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let h = x + self_attn(layer_norm1(x), mask: mask)
        return h + mlp(layer_norm2(h))
    }
}

/// The stack of encoder layers, `encoder.layers.N` (transformers modeling_clip.py CLIPEncoder).
public final class CLIPEncoder: Module {
    public let layers: [CLIPEncoderLayer]

    public init(_ config: CLIPTextConfiguration) {
        layers = (0..<config.layerCount).map { _ in CLIPEncoderLayer(config) }
    }
}
