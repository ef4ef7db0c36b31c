import NeuralNet
import TensorEngine

/// The feed-forward block of a CLIP encoder layer: fc2(act(fc1(x))) (transformers modeling_clip.py CLIPMLP).
public final class CLIPMLP: Module {
    public let fc1: Linear
    public let fc2: Linear
    public let activation: CLIPActivation

    public init(hiddenSize: Int, intermediateSize: Int, activation: CLIPActivation) {
        fc1 = Linear(hiddenSize, intermediateSize)
        fc2 = Linear(intermediateSize, hiddenSize)
        self.activation = activation
    }

    // x: [..., D] -> [..., D]
    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(activation(fc1(x))) }
}
