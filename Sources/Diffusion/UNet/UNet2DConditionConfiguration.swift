import Foundation
import NeuralNet

/// diffusers' unet `config.json` (UNet2DConditionModel, diffusers/models/unets/unet_2d_condition.py).
///
/// Supported: the Stable Diffusion 1.x, 2.x and XL families — CrossAttnDownBlock2D / DownBlock2D,
/// UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D, GEGLU feed-forward, any number of blocks,
/// channels, heads, transformer layers and cross-attention width, and SDXL's `addition_embed_type`
/// "text_time" (pooled text embedding and size/crop time ids added to the timestep embedding). The block types are enums (`UNetDownBlockType`, `UNetUpBlockType`,
/// `UNetMidBlockType`), so `load(from:)` refuses another block type before decoding; `validate(source:)`
/// rejects every other non-default value by field name.
///
/// Naming quirk kept from diffusers: when `num_attention_heads` is null, `attention_head_dim` holds the
/// number of heads (diffusers issue 2011); the head width is then `channels / heads`.
public struct UNet2DConditionConfiguration: Codable, Equatable, Sendable {
    public var inChannels: Int = 4
    public var outChannels: Int = 4
    public var downBlockTypes: [UNetDownBlockType] = [.crossAttention, .crossAttention, .crossAttention, .plain]
    public var upBlockTypes: [UNetUpBlockType] = [.plain, .crossAttention, .crossAttention, .crossAttention]
    /// diffusers allows null (no mid block); `validate(source:)` refuses it.
    public var midBlockType: UNetMidBlockType? = .crossAttention
    public var blockOutChannels: [Int] = [320, 640, 1280, 1280]
    public var layersPerBlock: OneOrMany<Int> = .one(2)
    public var attentionHeadDim: OneOrMany<Int>? = .one(8)
    public var numAttentionHeads: OneOrMany<Int>?
    public var crossAttentionDim: OneOrMany<Int> = .one(1280)
    public var normNumGroups: Int? = 32
    public var normEps: Double = 1e-5
    public var flipSinToCos: Bool = true
    public var freqShift: Double = 0
    public var actFn: String = "silu"
    public var transformerLayersPerBlock: OneOrMany<Int> = .one(1)
    public var useLinearProjection: Bool = false
    public var onlyCrossAttention: OneOrMany<Bool> = .one(false)
    public var upcastAttention: Bool = false
    public var centerInputSample: Bool = false
    public var sampleSize: OneOrMany<Int>?
    public var resnetTimeScaleShift: String = "default"
    public var downsamplePadding: Int = 1
    public var midBlockScaleFactor: Double = 1
    public var timeEmbeddingType: String = "positional"
    public var classEmbedType: String?
    public var additionEmbedType: String?
    public var encoderHidDim: Int?
    /// `addition_time_embed_dim`: width of the sinusoidal features of each "text_time" time id.
    public var additionTimeEmbedDim: Int?
    /// `projection_class_embeddings_input_dim`: input width of the "text_time" `add_embedding`
    /// (pooled text width + time ids × `addition_time_embed_dim`).
    public var projectionClassEmbeddingsInputDim: Int?
    public var dualCrossAttention: Bool = false
    /// Other fields of the file (diffusers options this implementation does not model); each must
    /// hold its diffusers default, see `validate(source:)`. Not encoded.
    public var otherFields: [String: JSONValue] = [:]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types"
        case midBlockType = "mid_block_type"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads"
        case crossAttentionDim = "cross_attention_dim"
        case normNumGroups = "norm_num_groups"
        case normEps = "norm_eps"
        case flipSinToCos = "flip_sin_to_cos"
        case freqShift = "freq_shift"
        case actFn = "act_fn"
        case transformerLayersPerBlock = "transformer_layers_per_block"
        case useLinearProjection = "use_linear_projection"
        case onlyCrossAttention = "only_cross_attention"
        case upcastAttention = "upcast_attention"
        case centerInputSample = "center_input_sample"
        case sampleSize = "sample_size"
        case resnetTimeScaleShift = "resnet_time_scale_shift"
        case downsamplePadding = "downsample_padding"
        case midBlockScaleFactor = "mid_block_scale_factor"
        case timeEmbeddingType = "time_embedding_type"
        case classEmbedType = "class_embed_type"
        case additionEmbedType = "addition_embed_type"
        case encoderHidDim = "encoder_hid_dim"
        case additionTimeEmbedDim = "addition_time_embed_dim"
        case projectionClassEmbeddingsInputDim = "projection_class_embeddings_input_dim"
        case dualCrossAttention = "dual_cross_attention"
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Fields diffusers writes that only need to hold their default (null where not listed).
    static let defaultedFields: [String: [JSONValue]] = [
        "conv_in_kernel": [.number(3)], "conv_out_kernel": [.number(3)],
        "encoder_hid_dim_type": [.null], "reverse_transformer_layers_per_block": [.null],
        "num_class_embeds": [.null],
        "resnet_skip_time_act": [.bool(false)], "resnet_out_scale_factor": [.number(1)],
        "time_embedding_dim": [.null], "time_embedding_act_fn": [.null], "timestep_post_act": [.null],
        "time_cond_proj_dim": [.null],
        "attention_type": [.string("default")], "class_embeddings_concat": [.bool(false)],
        "mid_block_only_cross_attention": [.null, .bool(false)], "cross_attention_norm": [.null]
    ]
    /// Fields with no effect on the (evaluation-mode) forward pass: dropout, and the number of heads
    /// of an addition embedding that is rejected anyway; diffusers' bookkeeping fields start with "_".
    static let ignoredFields: Set<String> = ["dropout", "addition_embed_type_num_heads"]

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        inChannels = try value(.inChannels, inChannels)
        outChannels = try value(.outChannels, outChannels)
        downBlockTypes = try value(.downBlockTypes, downBlockTypes)
        upBlockTypes = try value(.upBlockTypes, upBlockTypes)
        midBlockType = c.contains(.midBlockType) ? try c.decodeIfPresent(UNetMidBlockType.self, forKey: .midBlockType) : midBlockType
        blockOutChannels = try value(.blockOutChannels, blockOutChannels)
        layersPerBlock = try value(.layersPerBlock, layersPerBlock)
        attentionHeadDim = c.contains(.attentionHeadDim) ? try c.decodeIfPresent(OneOrMany<Int>.self, forKey: .attentionHeadDim) : attentionHeadDim
        numAttentionHeads = try c.decodeIfPresent(OneOrMany<Int>.self, forKey: .numAttentionHeads)
        crossAttentionDim = try value(.crossAttentionDim, crossAttentionDim)
        normNumGroups = c.contains(.normNumGroups) ? try c.decodeIfPresent(Int.self, forKey: .normNumGroups) : normNumGroups
        normEps = try value(.normEps, normEps)
        flipSinToCos = try value(.flipSinToCos, flipSinToCos)
        freqShift = try value(.freqShift, freqShift)
        actFn = try value(.actFn, actFn)
        transformerLayersPerBlock = try value(.transformerLayersPerBlock, transformerLayersPerBlock)
        useLinearProjection = try value(.useLinearProjection, useLinearProjection)
        onlyCrossAttention = try value(.onlyCrossAttention, onlyCrossAttention)
        upcastAttention = try value(.upcastAttention, upcastAttention)
        centerInputSample = try value(.centerInputSample, centerInputSample)
        sampleSize = try c.decodeIfPresent(OneOrMany<Int>.self, forKey: .sampleSize)
        resnetTimeScaleShift = try value(.resnetTimeScaleShift, resnetTimeScaleShift)
        downsamplePadding = try value(.downsamplePadding, downsamplePadding)
        midBlockScaleFactor = try value(.midBlockScaleFactor, midBlockScaleFactor)
        timeEmbeddingType = try value(.timeEmbeddingType, timeEmbeddingType)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        additionEmbedType = try c.decodeIfPresent(String.self, forKey: .additionEmbedType)
        encoderHidDim = try c.decodeIfPresent(Int.self, forKey: .encoderHidDim)
        additionTimeEmbedDim = try c.decodeIfPresent(Int.self, forKey: .additionTimeEmbedDim)
        projectionClassEmbeddingsInputDim = try c.decodeIfPresent(Int.self, forKey: .projectionClassEmbeddingsInputDim)
        dualCrossAttention = try value(.dualCrossAttention, dualCrossAttention)

        let all = try decoder.container(keyedBy: AnyKey.self)
        let modelled = Set(CodingKeys.allCases.map(\.rawValue))
        for key in all.allKeys where !modelled.contains(key.stringValue) && !key.stringValue.hasPrefix("_") {
            otherFields[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
        }
    }

    /// Stable Diffusion v1.4 / v1.5 (CompVis/stable-diffusion-v1-4, unet/config.json).
    public static let sd14: UNet2DConditionConfiguration = {
        var c = UNet2DConditionConfiguration()
        c.crossAttentionDim = .one(768)
        c.attentionHeadDim = .one(8)
        c.sampleSize = .one(64)
        return c
    }()

    /// Allowed range of each size read from a `config.json` (single values and every list entry),
    /// checked before anything is allocated. Generous: SD 1.x has 4 input channels, widths up to 1280,
    /// 2 layers per block, 8 heads, a 768-wide context and 64×64 latents; SDXL-sized UNets stay far
    /// inside too. The limits refuse the absurd (2^62 channels, a million layers) with the range.
    public static let allowedRanges: [String: ClosedRange<Int>] = [
        "in_channels": 1...1_024, "out_channels": 1...1_024, "block_out_channels": 1...16_384,
        "layers_per_block": 1...64, "attention_head_dim": 1...4_096, "num_attention_heads": 1...4_096,
        "cross_attention_dim": 1...16_384, "norm_num_groups": 1...16_384, "transformer_layers_per_block": 1...64,
        "sample_size": 1...8_192, "downsample_padding": 0...16, "encoder_hid_dim": 1...16_384,
        "addition_time_embed_dim": 1...4_096, "projection_class_embeddings_input_dim": 1...65_536
    ]
    /// Most blocks (entries of `block_out_channels`): 16, a spatial factor of 2^15.
    public static let maximumBlockCount = 16

    /// Reads and validates `config.json`: field types and ranges first ("layers_per_block: expected
    /// an integer, got 2.5"), then the architecture (`validate`).
    public static func load(from url: URL) throws -> UNet2DConditionConfiguration {
        let file: ConfigurationFile
        do {
            file = try ConfigurationFile(url: url)
            try file.check(
                integers: allowedRanges, numbers: ["norm_eps", "freq_shift", "mid_block_scale_factor"],
                strings: ["act_fn", "mid_block_type", "resnet_time_scale_shift", "time_embedding_type", "addition_embed_type"])
            if let list = file.object["block_out_channels"] as? [Any], list.count > maximumBlockCount {
                throw ConfigurationFileError.invalidField(
                    path: url.path, field: "block_out_channels",
                    reason: "\(list.count) blocks, at most \(maximumBlockCount) are allowed")
            }
        } catch let error as ConfigurationFileError {
            throw UNetConfigurationError.unreadable(path: url.path, reason: error.detail)
        }
        try checkBlockTypes(file)
        let config: UNet2DConditionConfiguration
        do { config = try JSONDecoder().decode(UNet2DConditionConfiguration.self, from: file.data) } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw UNetConfigurationError.unreadable(path: url.path, reason: file.explain(error).detail)
            }
            throw UNetConfigurationError.unreadable(path: url.path, reason: Self.explain(error))
        } catch {
            throw UNetConfigurationError.unreadable(path: url.path, reason: "invalid JSON: \(error)")
        }
        try config.validate(source: url.path)
        return config
    }

    /// Refuses a block type this implementation does not build before decoding, as `unsupported`
    /// with the field ("down_block_types[1]"), the value and the supported types; decoding alone
    /// would only say that the value is not one of the cases.
    static func checkBlockTypes(_ file: ConfigurationFile) throws {
        func refuse(_ key: CodingKeys, _ unknown: (index: Int?, name: String)?, _ supported: String) throws {
            guard let unknown else { return }
            let field = unknown.index.map { "\(key.rawValue)[\($0)]" } ?? key.rawValue
            throw UNetConfigurationError.unsupported(path: file.path, field: field, value: "\"\(unknown.name)\"", supported: supported)
        }
        let object = file.object
        try refuse(.downBlockTypes, UNetDownBlockType.firstUnknown(in: object[CodingKeys.downBlockTypes.rawValue]), UNetDownBlockType.acceptedValues)
        try refuse(.upBlockTypes, UNetUpBlockType.firstUnknown(in: object[CodingKeys.upBlockTypes.rawValue]), UNetUpBlockType.acceptedValues)
        try refuse(.midBlockType, UNetMidBlockType.firstUnknown(in: object[CodingKeys.midBlockType.rawValue]), UNetMidBlockType.acceptedValues)
    }

    /// A lower bound of the parameter count (the 3×3 convolutions of every resnet: per block
    /// 2·layers + 1 of them at the block's width), computed without allocating.
    public var minimumParameterCount: Int {
        let layers = layersPerBlock.values(count: blockOutChannels.count) ?? [1]
        var total = 0
        for (i, c) in blockOutChannels.enumerated() {
            let (square, o1) = c.multipliedReportingOverflow(by: c)
            let (term, o2) = square.multipliedReportingOverflow(by: 9 * (2 * layers[min(i, layers.count - 1)] + 1))
            if o1 || o2 { return Int.max }
            total = total.addingReportingOverflow(term).overflow ? Int.max : total + term
        }
        return total
    }

    private static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .keyNotFound(_, let ctx):
            return "field '\(path(ctx))' has an unexpected type or value: \(ctx.debugDescription)"
        case .dataCorrupted(let ctx):
            return "invalid JSON\(ctx.codingPath.isEmpty ? "" : " at '\(path(ctx))'"): \(ctx.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
