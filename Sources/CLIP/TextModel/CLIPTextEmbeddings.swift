import NeuralNet
import TensorEngine

/// Token plus learned absolute position embeddings (transformers modeling_clip.py CLIPTextEmbeddings).
/// The `position_ids` buffer (arange) that older checkpoints carry is accepted and ignored.
public final class CLIPTextEmbeddings: Module {
    public let token_embedding: Embedding
    public let position_embedding: Embedding

    public init(_ config: CLIPTextConfiguration) {
        token_embedding = Embedding(config.vocabularySize, config.hiddenSize)
        position_embedding = Embedding(config.maxPositionEmbeddings, config.hiddenSize)
    }

    public override var ignoredCheckpointKeys: [String] { ["position_ids"] }

    // ids: B rows of L ids (flat, row-major) -> [B, L, D]
    public func callAsFunction(_ ids: [Int], batch: Int, length: Int) -> Tensor {
        let tokens = token_embedding(ids, shape: [batch, length])  // [B, L, D]
        let positions = position_embedding(Array(0..<length), shape: [length])  // [L, D]
        return tokens + positions
    }
}
