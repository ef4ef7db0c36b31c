import Diffusion

/// The module names kohya's sd-scripts give a UNet's LoRA modules, as A1111, ComfyUI and diffusers'
/// kohya converter read them.
///
/// - SD 1.x / 2.x: sd-scripts trains on the diffusers UNet, so the name is the diffusers module path
///   with `.` → `_`: `lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k`.
/// - SDXL: sd-scripts trains on the original SGM UNet, so the block is named by its SGM number:
///   `input_blocks.<i>.1` for `down_blocks.<b>.attentions.<j>` with i = 1 + b·(n + 1) + j (conv_in is
///   input block 0, each level holds n layers and a downsampler), `middle_block.1` for
///   `mid_block.attentions.0`, `output_blocks.<i>.1` for `up_blocks.<b>.attentions.<j>` with
///   i = b·(n + 1) + j (each up level holds n + 1 layers); n = 2 layers per block, SDXL base's, which
///   SDXL checkpoints share. diffusers inverts it in `loaders/lora_conversion_utils.py`
///   (`_maybe_map_sgm_blocks_to_diffusers` with the UNet's `layers_per_block`, then
///   `_convert_unet_lora_key`): `lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k`.
public enum KohyaModuleName {
    /// SDXL base's layers per UNet block (`layers_per_block`).
    public static let sdxlLayersPerBlock = 2

    /// The kohya name (without the `.lora_down.weight` suffix) of the projection at `key`, a diffusers
    /// module path. Throws `incompatibleShift` naming `source` for an SDXL path outside SDXL's layout.
    public static func name(ofProjection key: String, family: ConditioningFamily, source: String) throws -> String {
        switch family {
        case .stableDiffusion: return "lora_unet_" + key.replacingOccurrences(of: ".", with: "_")
        case .stableDiffusionXL: return "lora_unet_" + (try sgmPath(key, source: source)).joined(separator: "_")
        }
    }

    /// SGM path components of an SDXL cross-attention module path (see the type's comment).
    static func sgmPath(_ key: String, source: String) throws -> [String] {
        let parts = key.split(separator: ".").map(String.init)
        let n = sdxlLayersPerBlock
        func outside() -> ErasureError {
            .incompatibleShift(
                path: source,
                reason:
                    "'\(key)' has no kohya SDXL name: it is not a cross-attention module of SDXL's UNet layout (\(n) layers per block)")
        }
        func index(_ i: Int) -> Int? { parts.count > i ? Int(parts[i]) : nil }
        switch parts.first {
        case "down_blocks":
            guard parts.count > 4, parts[2] == "attentions", let b = index(1), let j = index(3), j < n else { throw outside() }
            return ["input_blocks", String(1 + b * (n + 1) + j), "1"] + parts[4...]
        case "up_blocks":
            guard parts.count > 4, parts[2] == "attentions", let b = index(1), let j = index(3), j <= n else { throw outside() }
            return ["output_blocks", String(b * (n + 1) + j), "1"] + parts[4...]
        case "mid_block":
            guard parts.count > 3, parts[1] == "attentions", parts[2] == "0" else { throw outside() }
            return ["middle_block", "1"] + parts[3...]
        default:
            throw outside()
        }
    }
}
