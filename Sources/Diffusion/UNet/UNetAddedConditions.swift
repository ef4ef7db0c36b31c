import TensorEngine

/// SDXL's extra UNet inputs, diffusers' `added_cond_kwargs` for `addition_embed_type` "text_time":
/// each batch item's pooled text embedding (`text_embeds`) and its time ids (`time_ids`: original
/// height and width, crop top and left, target height and width for SDXL base).
public struct UNetAddedConditions {
    /// [B, P] pooled, projected text embedding of the second text encoder.
    public let textEmbeds: Tensor
    /// [B, N] time ids.
    public let timeIds: Tensor

    /// `textEmbeds` [B, P] and `timeIds` [B, N] with the same batch; nil otherwise.
    public init?(textEmbeds: Tensor, timeIds: Tensor) {
        guard textEmbeds.rank == 2, timeIds.rank == 2, textEmbeds.shape[0] == timeIds.shape[0] else { return nil }
        self.textEmbeds = textEmbeds
        self.timeIds = timeIds
    }

    public var batch: Int { textEmbeds.shape[0] }

    /// The same time ids for every item of a batch of pooled embeddings [B, P].
    public init?(textEmbeds: Tensor, sharedTimeIds ids: [Float]) {
        let b = textEmbeds.shape.first ?? 0
        self.init(textEmbeds: textEmbeds, timeIds: Tensor((0..<b).flatMap { _ in ids }, shape: [b, ids.count]))
    }

    /// The two conditions of a guided batch, `first` then `second` along the batch axis.
    public static func concat(_ first: UNetAddedConditions, _ second: UNetAddedConditions) -> UNetAddedConditions? {
        UNetAddedConditions(
            textEmbeds: Tensor.concat([first.textEmbeds, second.textEmbeds], axis: 0),
            timeIds: Tensor.concat([first.timeIds, second.timeIds], axis: 0))
    }
}

extension UNet2DConditionModel {
    /// The "text_time" addition to the timestep embedding (unet_2d_condition.py `get_aug_embed`):
    /// sinusoidal features of every time id (`add_time_proj`, the model's flip_sin_to_cos and
    /// freq_shift), flattened per item, after the pooled text, through `add_embedding`.
    /// The model must have "text_time" and `added` the widths its `projection_class_embeddings_input_dim` sums:
    /// the SDXL pipeline refuses at load a folder or file where they differ
    /// (`PipelineConsistencyError.missingTextTimeEmbedding`, `.pooledWidthMismatch`; SDXLPipelineTests),
    /// so the stops below are reached only by a programming error.
    // added: [B, P] + [B, N] -> [B, T]
    func additionEmbedding(_ added: UNetAddedConditions) -> Tensor {
        guard let add_embedding, let textTime else { preconditionFailure("UNet2DConditionModel: no addition embedding") }
        let b = added.batch
        let n = added.timeIds.shape[1]
        let ids = added.timeIds.scalars
        let features = SinusoidalTimestepFeatures.make(
            ids, dim: textTime.timeEmbedDim, flipSinToCos: configuration.flipSinToCos,
            downscaleFreqShift: Float(configuration.freqShift))  // [B·N, d]
        let timeEmbeds = features.reshaped([b, n * textTime.timeEmbedDim])  // [B, N·d]
        let input = Tensor.concat([added.textEmbeds, timeEmbeds], axis: 1)  // [B, P + N·d]
        precondition(
            input.shape[1] == textTime.projectionInputDim,
            "UNet2DConditionModel: pooled width \(added.textEmbeds.shape[1]) + \(n) time ids × \(textTime.timeEmbedDim) "
                + "!= projection_class_embeddings_input_dim \(textTime.projectionInputDim)")
        return add_embedding(input)  // [B, T]
    }
}
