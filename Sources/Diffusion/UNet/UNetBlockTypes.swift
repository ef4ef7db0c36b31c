/// A block type named in a diffusers `config.json` (`down_block_types`, `up_block_types`,
/// `mid_block_type`), as an enum whose raw values are diffusers' class names. Decoding accepts exactly
/// those names and refuses any other with a `DecodingError` at its key listing the accepted ones; the
/// configuration loaders check the raw file first (`firstUnknown(in:)`) so that an unknown type is
/// reported with the file, the field, the value and the supported types. Encoding writes the name.
public protocol DiffusersBlockType: DiffusersConfigValue, Hashable {}

extension DiffusersBlockType {
    /// The first string of a raw JSON value (one string, or a list of them) that names no case: its
    /// list index (nil for a single string) and the string. Entries that are not strings are left to
    /// decoding, which reports their type.
    static func firstUnknown(in raw: Any?) -> (index: Int?, name: String)? {
        if let name = raw as? String { return Self(rawValue: name) == nil ? (nil, name) : nil }
        guard let list = raw as? [Any] else { return nil }
        for (i, entry) in list.enumerated() {
            if let name = entry as? String, Self(rawValue: name) == nil { return (i, name) }
        }
        return nil
    }
}

/// `down_block_types` entries of a UNet2DConditionModel (diffusers models/unets/unet_2d_blocks.py
/// `get_down_block`) that this implementation builds.
public enum UNetDownBlockType: String, DiffusersBlockType {
    /// `CrossAttnDownBlock2D`: resnets each followed by a cross-attention transformer.
    case crossAttention = "CrossAttnDownBlock2D"
    /// `DownBlock2D`: resnets only.
    case plain = "DownBlock2D"

    /// Whether the block has attentions (transformers after its resnets).
    public var hasCrossAttention: Bool {
        switch self {
        case .crossAttention: return true
        case .plain: return false
        }
    }
}

/// `up_block_types` entries of a UNet2DConditionModel (unet_2d_blocks.py `get_up_block`) that this
/// implementation builds, in diffusers order (deepest first).
public enum UNetUpBlockType: String, DiffusersBlockType {
    /// `CrossAttnUpBlock2D`: resnets each followed by a cross-attention transformer.
    case crossAttention = "CrossAttnUpBlock2D"
    /// `UpBlock2D`: resnets only.
    case plain = "UpBlock2D"

    /// Whether the block has attentions (transformers after its resnets).
    public var hasCrossAttention: Bool {
        switch self {
        case .crossAttention: return true
        case .plain: return false
        }
    }
}

/// `mid_block_type` of a UNet2DConditionModel (unet_2d_blocks.py `get_mid_block`) that this
/// implementation builds; diffusers' null (no mid block) is refused by validation.
public enum UNetMidBlockType: String, DiffusersBlockType {
    /// `UNetMidBlock2DCrossAttn`: resnet, then (transformer, resnet) pairs.
    case crossAttention = "UNetMidBlock2DCrossAttn"
}
