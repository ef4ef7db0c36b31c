import TensorEngine

/// A batch of prompts as a UNet is conditioned on them: the cross-attention context every family
/// has and, for SDXL, the pooled text embedding that reaches the UNet through its "text_time"
/// addition embedding (diffusers' `prompt_embeds` and `pooled_prompt_embeds`).
public struct PromptConditioning {
    /// [B, L, D]: what the cross-attention keys and values are computed from.
    public let context: Tensor
    /// [B, P]: the pooled, projected text embedding (SDXL); nil for families without one.
    public let pooled: Tensor?

    /// `context` [B, L, D] and, when given, `pooled` [B, P] of the same batch.
    public init(context: Tensor, pooled: Tensor? = nil) {
        precondition(context.rank == 3, "PromptConditioning: the context must be [B, L, D], got \(context.shape)")
        if let pooled {
            precondition(
                pooled.rank == 2 && pooled.shape[0] == context.shape[0],
                "PromptConditioning: pooled \(pooled.shape) for a context of \(context.shape)")
        }
        self.context = context
        self.pooled = pooled
    }

    public var batch: Int { context.shape[0] }

    /// The parts one after the other along the batch; all must have a pooled embedding or none.
    // parts: [B_i, L, D] (+ [B_i, P]) -> [ΣB_i, L, D] (+ [ΣB_i, P])
    public static func concat(_ parts: [PromptConditioning]) -> PromptConditioning {
        precondition(!parts.isEmpty, "PromptConditioning.concat: no parts")
        guard parts.count > 1 else { return parts[0] }
        let pooled = parts.compactMap(\.pooled)
        precondition(pooled.isEmpty || pooled.count == parts.count, "PromptConditioning.concat: pooled embeddings on some parts only")
        return PromptConditioning(
            context: Tensor.concat(parts.map(\.context), axis: 0),
            pooled: pooled.isEmpty ? nil : Tensor.concat(pooled, axis: 0))
    }

    /// The batch `count` times over: [B, ...] -> [count·B, ...].
    public func repeated(_ count: Int) -> PromptConditioning {
        Self.concat([PromptConditioning](repeating: self, count: count))
    }

    /// Items `range` of the batch.
    public func items(_ range: Range<Int>) -> PromptConditioning {
        PromptConditioning(context: context.sliced(axis: 0, range), pooled: pooled?.sliced(axis: 0, range))
    }

    /// The same prompts with another pooled embedding (how much of a prompt's effect takes the
    /// pooled path is measured by swapping it).
    public func withPooled(_ other: Tensor?) -> PromptConditioning { PromptConditioning(context: context, pooled: other) }
}
