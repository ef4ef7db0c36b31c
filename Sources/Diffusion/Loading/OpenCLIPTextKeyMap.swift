import NeuralNet

/// Maps the text-encoder keys of an original-layout Stable Diffusion 2.x single file, OpenCLIP
/// ViT-H/14's text tower under `cond_stage_model.model.`, to transformers' `CLIPTextModel` keys
/// (`text_model.*`), as diffusers' `loaders/single_file_utils.py` `convert_open_clip_checkpoint` does:
///
/// - `transformer.resblocks.N.attn.in_proj_weight` `[3D, D]` (and `in_proj_bias` `[3D]`) hold the
///   query, key and value projections stacked by rows; they are split into `q_proj`, `k_proj`,
///   `v_proj` (`MappedTensorKey.rowBlock`) without copying the file.
/// - `ln_1` / `ln_2` / `attn.out_proj` / `mlp.c_fc` / `mlp.c_proj` become `layer_norm1` /
///   `layer_norm2` / `self_attn.out_proj` / `mlp.fc1` / `mlp.fc2`; `token_embedding.weight`,
///   `positional_embedding` and `ln_final` become the embeddings and `final_layer_norm`.
/// - SD 2.x conditions on the penultimate layer: diffusers' text encoder has one layer fewer than the
///   OpenCLIP tower (23 of 24), so resblocks at or beyond `layerCount` are known extras and dropped,
///   as are `text_projection` and `logit_scale` (contrastive-training heads the pipeline never uses).
///
/// SDXL's second encoder (OpenCLIP ViT-bigG/14 under `conditioner.embedders.1.model.`,
/// `keepsProjection`) is transformers' `CLIPTextModelWithProjection`: every resblock is kept, and
/// `text_projection` `[D, P]`, which OpenCLIP applies as `x @ P`, becomes the bias-free
/// `text_projection.weight` `[P, D]` of a Linear (`x @ Wᵀ`): the stored matrix transposed
/// (`MappedTensorKey.transposed`), as `convert_open_clip_checkpoint` does for SDXL.
///
/// A key under the prefix that matches nothing keeps its OpenCLIP name, so strict loading reports it
/// as unexpected by name.
struct OpenCLIPTextKeyMap: Sendable {
    static let prefix = "cond_stage_model.model."

    /// The encoder layers the configured text encoder has (nil: every resblock is mapped).
    let layerCount: Int?
    /// Whether `text_projection` is a weight of the model (SDXL) rather than a dropped extra (SD 2.x).
    var keepsProjection = false

    /// The keys of `key`, the part after `prefix`: empty for a known extra.
    func keys(of key: String) -> [MappedTensorKey] {
        switch key {
        case "token_embedding.weight": return [MappedTensorKey("text_model.embeddings.token_embedding.weight")]
        case "positional_embedding": return [MappedTensorKey("text_model.embeddings.position_embedding.weight")]
        case "ln_final.weight": return [MappedTensorKey("text_model.final_layer_norm.weight")]
        case "ln_final.bias": return [MappedTensorKey("text_model.final_layer_norm.bias")]
        case "text_projection" where keepsProjection: return [MappedTensorKey("text_projection.weight", transposed: true)]
        case "text_projection", "logit_scale", "attn_mask": return []
        default: break
        }
        let resblocks = "transformer.resblocks."
        guard key.hasPrefix(resblocks) else { return [MappedTensorKey(key)] }
        let rest = key.dropFirst(resblocks.count)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0 else {
            return [MappedTensorKey(key)]
        }
        if let layerCount, index >= layerCount { return [] }
        let layer = "text_model.encoder.layers.\(index)."
        let inner = String(rest[rest.index(after: dot)...])
        for fused in ["weight", "bias"] where inner == "attn.in_proj_" + fused {
            return ["q_proj", "k_proj", "v_proj"].enumerated().map { block, name in
                MappedTensorKey(
                    layer + "self_attn.\(name).\(fused)", rowBlock: MappedTensorKey.RowBlock(index: block, count: 3))
            }
        }
        let renames = [
            ("ln_1.", "layer_norm1."), ("ln_2.", "layer_norm2."), ("attn.out_proj.", "self_attn.out_proj."),
            ("mlp.c_fc.", "mlp.fc1."), ("mlp.c_proj.", "mlp.fc2.")
        ]
        for (old, new) in renames where inner.hasPrefix(old) {
            return [MappedTensorKey(layer + new + inner.dropFirst(old.count))]
        }
        return [MappedTensorKey(key)]
    }
}
