import TensorEngine

/// torch.nn.Linear: `weight` [out, in], optional `bias` [out].
///
/// An optional `adapter` adds a learned or loaded delta to the output without touching the weight
/// (LoRA-style): y = x Wᵀ + b + adapter(x). SepME's per-concept shifts enter the cross-attention
/// key/value projections this way, so base weights are never modified in place.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?
    /// Not a parameter of this module (the reflection in `Module` skips it).
    public var adapter: LinearAdapter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Tensor(zeros: [outFeatures, inFeatures])
        self.bias = bias ? Tensor(zeros: [outFeatures]) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    // x: [..., in] -> [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = Tensor.linear(x, weight: weight, bias: bias)
        guard let adapter, let d = adapter.delta(x) else { return y }
        return y + d
    }
}

/// An additive change of a Linear layer's output, y += delta(x) (nil: nothing to add right now).
public protocol LinearAdapter: AnyObject {
    // x: [..., in] -> [..., out]
    func delta(_ x: Tensor) -> Tensor?
}
