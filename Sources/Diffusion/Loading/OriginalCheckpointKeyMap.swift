import NeuralNet

/// Maps the keys of an original-layout (CompVis / A1111 / Stability) Stable Diffusion 1.x or 2.x single-file checkpoint
/// to diffusers' `UNet2DConditionModel` / `AutoencoderKL` keys and transformers' `CLIPTextModel` keys.
///
/// The same correspondence as diffusers' `loaders/single_file_utils.py` (`convert_ldm_unet_checkpoint`,
/// `convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`), built as a table of key prefixes from
/// the layouts: the longest table prefix of a key is replaced, and the few sub-module names that differ
/// (resnet `in_layers.0` -> `norm1`, VAE attention `q` -> `to_q`, ...) are renamed. A key under a
/// component's prefix that matches nothing keeps its original name in that component's key space, so
/// strict loading reports it as unexpected by name; keys outside the three components are either known
/// extras (`droppedKeys`, `droppedKeyPrefixes`) or `.unclaimed`.
public struct OriginalCheckpointKeyMap: Sendable {
    /// The three models a SD1.x single file holds.
    public enum Component: String, CaseIterable, Sendable {
        case unet, vae, textEncoder
    }

    /// What becomes of one key of the single file.
    public enum Destination: Equatable, Sendable {
        /// A tensor of `component`, under `key` in the diffusers / transformers key space.
        case component(Component, MappedTensorKey)
        /// Several tensors of `component` stored fused in one (OpenCLIP's `in_proj`), each a row block.
        case fusedComponent(Component, [MappedTensorKey])
        /// A known extra the models do not use (EMA copies, schedule buffers, position ids).
        case dropped
        /// A key outside every component that is not a known extra.
        case unclaimed
    }

    /// Where each component lives in the single file.
    public static let unetPrefix = "model.diffusion_model."
    public static let vaePrefix = "first_stage_model."
    public static let textEncoderPrefix = "cond_stage_model.transformer."

    /// Training-time buffers a CompVis `LatentDiffusion` checkpoint stores at the top level
    /// (ldm/models/diffusion/ddpm.py `register_schedule`); the scheduler recomputes them from its config.
    public static let droppedKeys: Set<String> = [
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
        textEncoderPrefix + "text_model.embeddings.position_ids", textEncoderPrefix + "embeddings.position_ids"
    ]
    /// The EMA copy of the UNet (`model_ema.decay`, `model_ema.num_updates`, `model_ema.<flattened name>`).
    public static let droppedKeyPrefixes: [String] = ["model_ema."]

    /// transformers' `CLIPTextModel` top-level modules; older checkpoints store them without `text_model.`.
    static let textModelChildren = ["embeddings.", "encoder.", "final_layer_norm."]

    /// Where SD 2.x files keep their OpenCLIP text encoder (`OpenCLIPTextKeyMap`).
    public static let openCLIPTextEncoderPrefix = OpenCLIPTextKeyMap.prefix

    private let unetTable: [String: PrefixRule]
    private let vaeTable: [String: PrefixRule]
    private let openCLIP: OpenCLIPTextKeyMap

    /// `textLayerCount`: the configured text encoder's layers; an SD 2.x file's OpenCLIP resblocks at
    /// or beyond it are dropped (SD 2.x uses the penultimate layer). nil maps every resblock.
    public init(unet: UNetLayout, vae: VAELayout, textLayerCount: Int? = nil) {
        unetTable = Self.unetPrefixes(unet)
        vaeTable = Self.vaePrefixes(vae)
        openCLIP = OpenCLIPTextKeyMap(layerCount: textLayerCount)
    }

    /// Where the single-file key `originalKey` goes.
    public func destination(of originalKey: String) -> Destination {
        if originalKey.hasPrefix(Self.unetPrefix) {
            return .component(.unet, Self.map(String(originalKey.dropFirst(Self.unetPrefix.count)), unetTable))
        }
        if originalKey.hasPrefix(Self.vaePrefix) {
            return .component(.vae, Self.map(String(originalKey.dropFirst(Self.vaePrefix.count)), vaeTable))
        }
        if Self.droppedKeys.contains(originalKey) || Self.droppedKeyPrefixes.contains(where: originalKey.hasPrefix) {
            return .dropped
        }
        if originalKey.hasPrefix(Self.textEncoderPrefix) {
            let key = String(originalKey.dropFirst(Self.textEncoderPrefix.count))
            let isOldLayout = Self.textModelChildren.contains(where: key.hasPrefix)
            return .component(.textEncoder, MappedTensorKey(isOldLayout ? "text_model." + key : key))
        }
        if originalKey.hasPrefix(Self.openCLIPTextEncoderPrefix) {
            let keys = openCLIP.keys(of: String(originalKey.dropFirst(Self.openCLIPTextEncoderPrefix.count)))
            switch keys.count {
            case 0: return .dropped
            case 1: return .component(.textEncoder, keys[0])
            default: return .fusedComponent(.textEncoder, keys)
            }
        }
        return .unclaimed
    }

    /// The diffusers / transformers key of `originalKey` if it belongs to `component` as one tensor.
    public func key(of originalKey: String, in component: Component) -> MappedTensorKey? {
        guard case .component(component, let key) = destination(of: originalKey) else { return nil }
        return key
    }

    /// Every diffusers / transformers key `originalKey` holds for `component` (several for a fused tensor).
    public func keys(of originalKey: String, in component: Component) -> [MappedTensorKey] {
        switch destination(of: originalKey) {
        case .component(component, let key): return [key]
        case .fusedComponent(component, let keys): return keys
        default: return []
        }
    }

    // MARK: Prefix table

    /// How the part of a key after a table prefix is renamed.
    enum InnerNames: Sendable {
        case unchanged, unetResnet, vaeResnet, vaeAttention
    }

    struct PrefixRule: Sendable {
        let target: String
        let inner: InnerNames
    }

    /// Longest table prefix (whole dot-separated components) replaced, inner names renamed.
    static func map(_ key: String, _ table: [String: PrefixRule]) -> MappedTensorKey {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        for length in stride(from: min(parts.count - 1, 6), through: 1, by: -1) {
            guard let rule = table[parts[0..<length].joined(separator: ".")] else { continue }
            let rest = parts[length...].joined(separator: ".")
            let (renamed, rank) = renameInner(rest, rule.inner)
            return MappedTensorKey(rule.target + "." + renamed, droppingTrailingUnitDimensionsBeyondRank: rank)
        }
        return MappedTensorKey(key)
    }

    /// Sub-module names that differ: CompVis `ResBlock` (ldm/modules/diffusionmodules/openaimodel.py) vs
    /// diffusers `ResnetBlock2D`; CompVis VAE `ResnetBlock` / `AttnBlock` (ldm/modules/diffusionmodules/model.py)
    /// vs diffusers `ResnetBlock2D` / `Attention`, whose 1x1-conv q/k/v/proj_out weights become Linear weights.
    static func renameInner(_ rest: String, _ inner: InnerNames) -> (String, Int?) {
        let renames: [(String, String)]
        switch inner {
        case .unchanged: return (rest, nil)
        case .unetResnet:
            renames = [
                ("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"),
                ("out_layers.0", "norm2"), ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut")
            ]
        case .vaeResnet:
            renames = [("nin_shortcut", "conv_shortcut")]
        case .vaeAttention:
            renames = [("norm", "group_norm"), ("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")]
        }
        for (old, new) in renames where rest.hasPrefix(old + ".") {
            let tail = rest.dropFirst(old.count)
            let isProjectionWeight = inner == .vaeAttention && old != "norm" && tail == ".weight"
            return (new + tail, isProjectionWeight ? 2 : nil)
        }
        return (rest, nil)
    }

    /// input_blocks / middle_block / output_blocks numbering (diffusers `convert_ldm_unet_checkpoint`).
    static func unetPrefixes(_ layout: UNetLayout) -> [String: PrefixRule] {
        var table: [String: PrefixRule] = [
            "time_embed.0": PrefixRule(target: "time_embedding.linear_1", inner: .unchanged),
            "time_embed.2": PrefixRule(target: "time_embedding.linear_2", inner: .unchanged),
            "input_blocks.0.0": PrefixRule(target: "conv_in", inner: .unchanged),
            "out.0": PrefixRule(target: "conv_norm_out", inner: .unchanged),
            "out.2": PrefixRule(target: "conv_out", inner: .unchanged),
            "middle_block.0": PrefixRule(target: "mid_block.resnets.0", inner: .unetResnet),
            "middle_block.1": PrefixRule(target: "mid_block.attentions.0", inner: .unchanged),
            "middle_block.2": PrefixRule(target: "mid_block.resnets.1", inner: .unetResnet)
        ]
        if layout.hasTextTimeEmbedding {
            // SGM's `label_emb` = Sequential(Sequential(Linear, SiLU, Linear)) (diffusers `add_embedding`).
            table["label_emb.0.0"] = PrefixRule(target: "add_embedding.linear_1", inner: .unchanged)
            table["label_emb.0.2"] = PrefixRule(target: "add_embedding.linear_2", inner: .unchanged)
        }
        let layers = layout.layersPerBlock
        var input = 1
        for (i, hasAttention) in layout.downBlocksWithAttention.enumerated() {
            for j in 0..<layers {
                table["input_blocks.\(input).0"] = PrefixRule(target: "down_blocks.\(i).resnets.\(j)", inner: .unetResnet)
                if hasAttention {
                    table["input_blocks.\(input).1"] = PrefixRule(target: "down_blocks.\(i).attentions.\(j)", inner: .unchanged)
                }
                input += 1
            }
            if i < layout.downBlocksWithAttention.count - 1 {
                table["input_blocks.\(input).0.op"] = PrefixRule(target: "down_blocks.\(i).downsamplers.0.conv", inner: .unchanged)
                input += 1
            }
        }
        for (i, hasAttention) in layout.upBlocksWithAttention.enumerated() {
            for j in 0...layers {
                let output = i * (layers + 1) + j
                table["output_blocks.\(output).0"] = PrefixRule(target: "up_blocks.\(i).resnets.\(j)", inner: .unetResnet)
                if hasAttention {
                    table["output_blocks.\(output).1"] = PrefixRule(target: "up_blocks.\(i).attentions.\(j)", inner: .unchanged)
                }
            }
            if i < layout.upBlocksWithAttention.count - 1 {
                // The upsampler follows the last resnet (and its attention, when the block has one).
                let last = i * (layers + 1) + layers
                table["output_blocks.\(last).\(hasAttention ? 2 : 1).conv"] =
                    PrefixRule(target: "up_blocks.\(i).upsamplers.0.conv", inner: .unchanged)
            }
        }
        return table
    }

    /// encoder.down.i / decoder.up.i (stored in reverse order) / mid.block_1, attn_1, block_2
    /// (diffusers `convert_ldm_vae_checkpoint`).
    static func vaePrefixes(_ layout: VAELayout) -> [String: PrefixRule] {
        var table: [String: PrefixRule] = [:]
        for same in ["encoder.conv_in", "encoder.conv_out", "decoder.conv_in", "decoder.conv_out", "quant_conv", "post_quant_conv"] {
            table[same] = PrefixRule(target: same, inner: .unchanged)
        }
        for side in ["encoder", "decoder"] {
            table["\(side).norm_out"] = PrefixRule(target: "\(side).conv_norm_out", inner: .unchanged)
            table["\(side).mid.block_1"] = PrefixRule(target: "\(side).mid_block.resnets.0", inner: .vaeResnet)
            table["\(side).mid.attn_1"] = PrefixRule(target: "\(side).mid_block.attentions.0", inner: .vaeAttention)
            table["\(side).mid.block_2"] = PrefixRule(target: "\(side).mid_block.resnets.1", inner: .vaeResnet)
        }
        let blocks = layout.blockCount
        let layers = layout.layersPerBlock
        for i in 0..<blocks {
            for j in 0..<layers {
                table["encoder.down.\(i).block.\(j)"] = PrefixRule(target: "encoder.down_blocks.\(i).resnets.\(j)", inner: .vaeResnet)
            }
            if i < blocks - 1 {
                table["encoder.down.\(i).downsample.conv"] = PrefixRule(target: "encoder.down_blocks.\(i).downsamplers.0.conv", inner: .unchanged)
            }
            // decoder.up is numbered from the lowest resolution block up, diffusers' up_blocks the other way.
            let original = blocks - 1 - i
            for j in 0...layers {
                table["decoder.up.\(original).block.\(j)"] = PrefixRule(target: "decoder.up_blocks.\(i).resnets.\(j)", inner: .vaeResnet)
            }
            if i < blocks - 1 {
                table["decoder.up.\(original).upsample.conv"] = PrefixRule(target: "decoder.up_blocks.\(i).upsamplers.0.conv", inner: .unchanged)
            }
        }
        return table
    }
}
