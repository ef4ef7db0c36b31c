import TensorEngine

/// torch.nn.Embedding: `weight` [count, dim].
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dim: Int) { weight = Tensor(zeros: [count, dim]) }

    // indices: flat, indexShape -> indexShape + [dim]
    public func callAsFunction(_ indices: [Int], shape: [Int]) -> Tensor {
        Tensor.embedding(weight, indices: indices, indexShape: shape)
    }
}
