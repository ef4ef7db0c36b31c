import TensorEngine

/// torch.nn.GroupNorm (affine).
public final class GroupNorm: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int
    public let eps: Float

    public init(groups: Int, channels: Int, eps: Float = 1e-5) {
        weight = Tensor(filled: 1, shape: [channels])
        bias = Tensor(zeros: [channels])
        self.groups = groups
        self.eps = eps
    }

    /// With `silu`, SiLU of the result (the resnets' pre-activation), fused when nothing records a gradient.
    // x: [B, C, ...] -> [B, C, ...]
    public func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        Tensor.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu)
    }
}

/// torch.nn.LayerNorm over the last dimension (affine).
public final class LayerNorm: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5) {
        weight = Tensor(filled: 1, shape: [dim])
        bias = Tensor(zeros: [dim])
        self.eps = eps
    }

    // x: [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.layerNorm(x, weight: weight, bias: bias, eps: eps) }
}
