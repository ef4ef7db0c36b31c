import Foundation

/// Per-block values of a validated configuration, after diffusers' broadcasting of single values
/// (unet_2d_condition.py `__init__`).
struct ResolvedUNetConfiguration {
    let config: UNet2DConditionConfiguration
    let blockCount: Int
    let layersPerBlock: [Int]
    let attentionHeads: [Int]
    let crossAttentionDim: Int
    let transformerLayers: [Int]
    let groups: Int
    let eps: Float
    /// SDXL's "text_time" addition embedding, nil without one.
    let textTime: UNetTextTimeEmbedding?
    /// Width of the timestep embedding fed to every resnet (block_out_channels[0] * 4).
    var timeEmbeddingDim: Int { config.blockOutChannels[0] * 4 }
}

extension UNet2DConditionConfiguration {
    /// Throws `UNetConfigurationError` naming `source` and the field for every unsupported or
    /// inconsistent value.
    public func validate(source: String) throws {
        _ = try resolved(source: source)
    }

    func resolved(source: String) throws -> ResolvedUNetConfiguration {
        func unsupported(_ field: String, _ value: String, _ supported: String) -> UNetConfigurationError {
            .unsupported(path: source, field: field, value: value, supported: supported)
        }
        func invalid(_ field: String, _ reason: String) -> UNetConfigurationError {
            .invalid(path: source, field: field, reason: reason)
        }
        let n = blockOutChannels.count
        guard n >= 1 else { throw invalid("block_out_channels", "needs at least one block") }
        guard n <= Self.maximumBlockCount else {
            throw invalid("block_out_channels", "\(n) blocks, at most \(Self.maximumBlockCount) are allowed")
        }
        func inRange(_ field: String, _ values: [Int]) throws {
            guard let range = Self.allowedRanges[field] else { return }
            if let bad = values.first(where: { !range.contains($0) }) {
                throw invalid(field, "\(bad) is outside the allowed range \(range.lowerBound)...\(range.upperBound)")
            }
        }
        try inRange("block_out_channels", blockOutChannels)
        try inRange("in_channels", [inChannels])
        try inRange("out_channels", [outChannels])
        try inRange("layers_per_block", layersPerBlock.all)
        try inRange("cross_attention_dim", crossAttentionDim.all)
        try inRange("transformer_layers_per_block", transformerLayersPerBlock.all)
        try inRange("attention_head_dim", attentionHeadDim?.all ?? [])
        try inRange("num_attention_heads", numAttentionHeads?.all ?? [])
        try inRange("sample_size", sampleSize?.all ?? [])
        try inRange("norm_num_groups", normNumGroups.map { [$0] } ?? [])
        guard downBlockTypes.count == n else {
            throw invalid("down_block_types", "has \(downBlockTypes.count) entries, block_out_channels has \(n)")
        }
        guard upBlockTypes.count == n else {
            throw invalid("up_block_types", "has \(upBlockTypes.count) entries, down_block_types has \(n)")
        }
        // Every down/up/mid block type the enums hold is built; only the absent mid block is not.
        guard midBlockType != nil else { throw unsupported("mid_block_type", "null", UNetMidBlockType.acceptedValues) }
        guard let layers = layersPerBlock.values(count: n) else {
            throw invalid("layers_per_block", "list \(layersPerBlock.all) needs \(n) entries, one per down block")
        }
        guard layers.allSatisfy({ $0 >= 1 }) else { throw invalid("layers_per_block", "every entry must be >= 1, got \(layers)") }
        // diffusers: num_attention_heads = num_attention_heads or attention_head_dim.
        let headsField = numAttentionHeads != nil ? "num_attention_heads" : "attention_head_dim"
        guard let headsSpec = numAttentionHeads ?? attentionHeadDim else {
            throw invalid("attention_head_dim", "num_attention_heads and attention_head_dim are both null")
        }
        guard let heads = headsSpec.values(count: n) else {
            throw invalid(headsField, "list \(headsSpec.all) needs \(n) entries, one per down block")
        }
        if let attentionHeadDim, attentionHeadDim.values(count: n) == nil {
            throw invalid("attention_head_dim", "list \(attentionHeadDim.all) needs \(n) entries, one per down block")
        }
        guard let crossDims = crossAttentionDim.values(count: n) else {
            throw invalid("cross_attention_dim", "list \(crossAttentionDim.all) needs \(n) entries, one per down block")
        }
        guard let crossDim = crossDims.first, crossDims.allSatisfy({ $0 == crossDim }), crossDim > 0 else {
            throw unsupported("cross_attention_dim", "\(crossDims)", "one positive width shared by all blocks (a single encoder_hidden_states)")
        }
        guard let transformerLayers = transformerLayersPerBlock.values(count: n) else {
            throw invalid("transformer_layers_per_block", "list \(transformerLayersPerBlock.all) needs \(n) entries, one per down block")
        }
        guard transformerLayers.allSatisfy({ $0 >= 1 }) else {
            throw invalid("transformer_layers_per_block", "every entry must be >= 1, got \(transformerLayers)")
        }
        guard let onlyCross = onlyCrossAttention.values(count: n) else {
            throw invalid("only_cross_attention", "list needs \(n) entries, one per down block")
        }
        if onlyCross.contains(true) { throw unsupported("only_cross_attention", "\(onlyCrossAttention.all)", "false") }
        guard let groups = normNumGroups else { throw unsupported("norm_num_groups", "null", "a positive group count") }
        guard groups > 0 else { throw invalid("norm_num_groups", "must be positive, got \(groups)") }
        for (i, c) in blockOutChannels.enumerated() where c % groups != 0 {
            throw invalid("norm_num_groups", "\(groups) groups do not divide block_out_channels[\(i)] = \(c)")
        }
        // Cross-attention blocks split their channels into heads (mid block: the last block's heads).
        for i in 0..<n {
            let usesAttention = downBlockTypes[i].hasCrossAttention || upBlockTypes[n - 1 - i].hasCrossAttention || i == n - 1
            guard usesAttention else { continue }
            guard heads[i] > 0, blockOutChannels[i] % heads[i] == 0 else {
                throw invalid(headsField, "\(heads[i]) heads do not divide block_out_channels[\(i)] = \(blockOutChannels[i])")
            }
        }
        guard normEps > 0, normEps.isFinite else { throw invalid("norm_eps", "must be a positive number, got \(normEps)") }
        guard freqShift.isFinite else { throw invalid("freq_shift", "must be a finite number, got \(freqShift)") }
        guard midBlockScaleFactor.isFinite else { throw invalid("mid_block_scale_factor", "must be a finite number, got \(midBlockScaleFactor)") }
        guard actFn == "silu" || actFn == "swish" else { throw unsupported("act_fn", "\"\(actFn)\"", "\"silu\"") }
        guard resnetTimeScaleShift == "default" else {
            throw unsupported("resnet_time_scale_shift", "\"\(resnetTimeScaleShift)\"", "\"default\"")
        }
        guard timeEmbeddingType == "positional" else {
            throw unsupported("time_embedding_type", "\"\(timeEmbeddingType)\"", "\"positional\"")
        }
        guard downsamplePadding == 1 else { throw unsupported("downsample_padding", "\(downsamplePadding)", "1") }
        if let classEmbedType { throw unsupported("class_embed_type", "\"\(classEmbedType)\"", "null") }
        let textTime = try resolvedTextTime(source: source)
        if let encoderHidDim { throw unsupported("encoder_hid_dim", "\(encoderHidDim)", "null") }
        if dualCrossAttention { throw unsupported("dual_cross_attention", "true", "false") }
        if let sampleSize, sampleSize.all.isEmpty || sampleSize.all.contains(where: { $0 <= 0 }) {
            throw invalid("sample_size", "must be a positive size, got \(sampleSize.all)")
        }
        for key in otherFields.keys.sorted() where !Self.ignoredFields.contains(key) {
            let value = otherFields[key]!
            guard let defaults = Self.defaultedFields[key] else {
                throw unsupported(key, value.description, "no such UNet2DConditionModel option is known; remove the field")
            }
            guard defaults.contains(value) else {
                throw unsupported(key, value.description, defaults.map(\.description).joined(separator: " or "))
            }
        }
        return ResolvedUNetConfiguration(
            config: self, blockCount: n, layersPerBlock: layers, attentionHeads: heads,
            crossAttentionDim: crossDim, transformerLayers: transformerLayers,
            groups: groups, eps: Float(normEps), textTime: textTime)
    }

    /// `addition_embed_type` null (SD 1.x / 2.x), with both "text_time" widths null too, or
    /// "text_time" (SDXL) with both set (diffusers raises without `projection_class_embeddings_input_dim`).
    private func resolvedTextTime(source: String) throws -> UNetTextTimeEmbedding? {
        let timeKey = CodingKeys.additionTimeEmbedDim.rawValue
        let projectionKey = CodingKeys.projectionClassEmbeddingsInputDim.rawValue
        guard let additionEmbedType else {
            for (key, value) in [(timeKey, additionTimeEmbedDim), (projectionKey, projectionClassEmbeddingsInputDim)] {
                if let value {
                    throw UNetConfigurationError.unsupported(
                        path: source, field: key, value: "\(value)", supported: "null unless addition_embed_type is \"text_time\"")
                }
            }
            return nil
        }
        guard additionEmbedType == "text_time" else {
            throw UNetConfigurationError.unsupported(
                path: source, field: "addition_embed_type", value: "\"\(additionEmbedType)\"", supported: "null or \"text_time\"")
        }
        func required(_ key: String, _ value: Int?) throws -> Int {
            guard let value else {
                throw UNetConfigurationError.invalid(path: source, field: key, reason: "addition_embed_type \"text_time\" needs a width, got null")
            }
            guard let range = Self.allowedRanges[key], range.contains(value) else {
                throw UNetConfigurationError.invalid(path: source, field: key, reason: "\(value) is outside the allowed range")
            }
            return value
        }
        return UNetTextTimeEmbedding(
            timeEmbedDim: try required(timeKey, additionTimeEmbedDim),
            projectionInputDim: try required(projectionKey, projectionClassEmbeddingsInputDim))
    }
}

/// The widths of SDXL's "text_time" addition embedding (unet_2d_condition.py `_set_add_embedding`).
public struct UNetTextTimeEmbedding: Equatable, Sendable {
    /// `addition_time_embed_dim`: sinusoidal features per time id.
    public let timeEmbedDim: Int
    /// `projection_class_embeddings_input_dim`: pooled text width + time ids × `timeEmbedDim`.
    public let projectionInputDim: Int

    public init(timeEmbedDim: Int, projectionInputDim: Int) {
        self.timeEmbedDim = timeEmbedDim
        self.projectionInputDim = projectionInputDim
    }

    /// Width of the pooled text embedding that goes with `timeIdCount` time ids, nil when they
    /// leave no positive width.
    public func pooledWidth(timeIdCount: Int) -> Int? {
        let width = projectionInputDim - timeIdCount * timeEmbedDim
        return width > 0 ? width : nil
    }
}
