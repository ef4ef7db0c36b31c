import NeuralNet
import TensorEngine

/// diffusers activations.py `GEGLU`: proj to 2·inner, split into (hidden, gate), hidden · gelu(gate)
/// (exact erf GELU).
///
/// The split and product are one fused, differentiable step (`Tensor.gatedGelu`) that keeps only the
/// projection output for the backward pass; the chunk / gelu / multiply composition kept three more
/// [.., inner] tensors alive per feed-forward layer.
public final class GEGLU: Module {
    public let proj: Linear

    public init(dim: Int, innerDim: Int) { proj = Linear(dim, innerDim * 2) }

    // x: [..., dim] -> [..., inner]
    public func callAsFunction(_ x: Tensor) -> Tensor { proj(x).gatedGelu() }
}

/// diffusers attention.py `FeedForward` with activation "geglu": net = [GEGLU, Dropout, Linear].
public final class FeedForward: Module {
    public let net: [Module]

    public init(dim: Int, mult: Int = 4) {
        net = [GEGLU(dim: dim, innerDim: dim * mult), Identity(), Linear(dim * mult, dim)]
    }

    // x: [..., dim] -> [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let geglu = net[0] as! GEGLU
        let out = net[2] as! Linear
        return out(geglu(x))
    }
}
