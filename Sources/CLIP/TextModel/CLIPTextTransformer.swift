import NeuralNet
import TensorEngine

/// What a CLIP text encoder returns for a batch of token ids.
public struct CLIPTextOutput {
    /// [B, L, D] token states after the final layer norm: the prompt embedding SD's UNet attends to.
    public let lastHiddenState: Tensor
    /// [B, D] the final state of each row's EOS token (transformers' `pooler_output`).
    public let pooled: Tensor
    /// When requested: the input of the first layer (embeddings) and each layer's output, B·L·D each,
    /// without the final layer norm (transformers' `hidden_states`; `layerCount + 1` entries).
    /// Clip-skip k uses `final_layer_norm(hiddenStates[layerCount - k])`.
    public let hiddenStates: [Tensor]?
}

/// The `text_model` part of a CLIP text encoder: embeddings, causal encoder, final layer norm, EOS
/// pooling (transformers models/clip/modeling_clip.py CLIPTextModel.forward; 4.x CLIPTextTransformer).
public final class CLIPTextTransformer: Module {
    public let embeddings: CLIPTextEmbeddings
    public let encoder: CLIPEncoder
    public let final_layer_norm: LayerNorm
    public let configuration: CLIPTextConfiguration

    public init(_ config: CLIPTextConfiguration) {
        embeddings = CLIPTextEmbeddings(config)
        encoder = CLIPEncoder(config)
        final_layer_norm = LayerNorm(config.hiddenSize, eps: config.layerNormEps)
        configuration = config
    }

    /// Throws `invalidInput` unless `ids` is a non-empty batch of equally long, non-empty rows of at
    /// most `maxPositionEmbeddings` ids, each inside the vocabulary.
    public func validate(_ ids: [[Int]]) throws {
        let c = configuration
        guard let first = ids.first else { throw CLIPTextModelError.invalidInput(argument: "ids", reason: "empty batch") }
        guard first.count >= 1, first.count <= c.maxPositionEmbeddings else {
            throw CLIPTextModelError.invalidInput(
                argument: "ids", reason: "row length \(first.count), expected 1...\(c.maxPositionEmbeddings) (max_position_embeddings)")
        }
        for (r, row) in ids.enumerated() {
            guard row.count == first.count else {
                throw CLIPTextModelError.invalidInput(argument: "ids[\(r)]", reason: "length \(row.count), expected \(first.count) like row 0")
            }
            if let bad = row.firstIndex(where: { $0 < 0 || $0 >= c.vocabularySize }) {
                throw CLIPTextModelError.invalidInput(
                    argument: "ids[\(r)][\(bad)]", reason: "id \(row[bad]) outside the vocabulary 0..<\(c.vocabularySize)")
            }
        }
    }

    /// Position of the token whose state is pooled, by transformers' rule: with `eos_token_id == 2`
    /// (configs written before transformers PR #24773) the largest id, else the first `eos_token_id`
    /// (0 when the row has none, as torch's argmax of an all-zero mask). Ties: the first position.
    public func pooledPosition(_ row: [Int]) -> Int {
        if configuration.eosTokenId == 2 {
            var best = 0
            for (i, id) in row.enumerated() where id > row[best] { best = i }
            return best
        }
        return row.firstIndex(of: configuration.eosTokenId) ?? 0
    }

    /// Runs the encoder. `ids` must pass `validate` (violations stop the program with that message):
    /// no file or argument reaches that stop, since every pipeline refuses at load a tokenizer whose
    /// ids or length exceed its encoder (`PipelineConsistencyError.tokenizerVocabularyTooLarge`,
    /// `.sequenceLongerThanPositions`; ModelLoadingReliabilityTests), and callers with their own ids
    /// call `validate` first.
    // ids: B rows of L ids -> lastHiddenState [B, L, D], pooled [B, D], hiddenStates (L+1) x [B, L, D]
    public func callAsFunction(_ ids: [[Int]], outputHiddenStates: Bool = false) -> CLIPTextOutput {
        do { try validate(ids) } catch { preconditionFailure("\(error)") }
        let b = ids.count
        let l = ids[0].count
        let d = configuration.hiddenSize
        var x = embeddings(ids.flatMap { $0 }, batch: b, length: l)  // [B, L, D]
        var states: [Tensor]? = outputHiddenStates ? [x] : nil
        let mask = CLIPAttention.causalMask(length: l)  // [L, L]
        for layer in encoder.layers {
            x = layer(x, mask: mask)
            states?.append(x)
        }
        let last = final_layer_norm(x)  // [B, L, D]
        // Gather row r's pooled position as a differentiable row lookup in [B·L, D].
        let rows = ids.enumerated().map { r, row in r * l + pooledPosition(row) }
        let pooled = Tensor.embedding(last.reshaped([b * l, d]), indices: rows, indexShape: [b])  // [B, D]
        return CLIPTextOutput(lastHiddenState: last, pooled: pooled, hiddenStates: states)
    }
}
