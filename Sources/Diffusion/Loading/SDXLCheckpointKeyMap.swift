import NeuralNet

/// Maps the keys of a Stable Diffusion XL base single-file checkpoint in Stability's original (`sgm`)
/// layout, as SDXL base and the community models built on it are shared, to diffusers'
/// `UNet2DConditionModel` / `AutoencoderKL` keys and transformers' `CLIPTextModel` /
/// `CLIPTextModelWithProjection` keys: the correspondence of diffusers' `loaders/single_file_utils.py`
/// (`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`,
/// `convert_open_clip_checkpoint` with prefix `conditioner.embedders.1.model.`).
///
/// - `model.diffusion_model.*`: the UNet, numbered as in SD 1.x / 2.x files (`OriginalCheckpointKeyMap`),
///   its "text_time" embedding stored as `label_emb.0.0` / `label_emb.0.2` (`UNetLayout.hasTextTimeEmbedding`).
/// - `first_stage_model.*`: the VAE, as in SD 1.x / 2.x files.
/// - `conditioner.embedders.0.transformer.*`: CLIP ViT-L in transformers' own layout (`text_model.*`;
///   keys without that level get it, as older files store them).
/// - `conditioner.embedders.1.model.*`: OpenCLIP ViT-bigG, its fused `in_proj` split into q/k/v and its
///   `text_projection` transposed into a Linear weight (`OpenCLIPTextKeyMap` with `keepsProjection`).
///
/// Known extras are dropped (position ids, OpenCLIP's `logit_scale`, sgm's `denoiser.sigmas`, EMA
/// copies); any other key outside the four components is `.unclaimed`, and a key under a component's
/// prefix that matches nothing keeps its name in that component's key space, so strict loading names it.
public struct SDXLCheckpointKeyMap: Sendable {
    /// The four models an SDXL base single file holds.
    public enum Component: String, CaseIterable, Sendable {
        case unet, vae, textEncoder, textEncoder2
    }

    /// What becomes of one key of the single file.
    public enum Destination: Equatable, Sendable {
        /// One or more tensors of `component` (several: row blocks of a fused tensor).
        case component(Component, [MappedTensorKey])
        /// A known extra the models do not use.
        case dropped
        /// A key outside every component that is not a known extra.
        case unclaimed
    }

    public static let textEncoderPrefix = "conditioner.embedders.0.transformer."
    public static let textEncoder2Prefix = "conditioner.embedders.1.model."

    /// Buffers sgm and transformers store beside the weights: the CLIP position ids, and the sigma
    /// table of sgm's `DiscreteDenoiser` (sgm/modules/diffusionmodules/denoiser.py), which the
    /// scheduler recomputes from its configuration.
    public static let droppedKeys: Set<String> = [
        "denoiser.sigmas", textEncoderPrefix + "text_model.embeddings.position_ids", textEncoderPrefix + "embeddings.position_ids"
    ]

    private let original: OriginalCheckpointKeyMap
    private let openCLIP = OpenCLIPTextKeyMap(layerCount: nil, keepsProjection: true)

    public init(unet: UNetLayout, vae: VAELayout) {
        original = OriginalCheckpointKeyMap(unet: unet, vae: vae)
    }

    /// Where the single-file key `originalKey` goes.
    public func destination(of originalKey: String) -> Destination {
        if Self.droppedKeys.contains(originalKey) { return .dropped }
        if originalKey.hasPrefix(Self.textEncoderPrefix) {
            let key = String(originalKey.dropFirst(Self.textEncoderPrefix.count))
            let isOldLayout = OriginalCheckpointKeyMap.textModelChildren.contains(where: key.hasPrefix)
            return .component(.textEncoder, [MappedTensorKey(isOldLayout ? "text_model." + key : key)])
        }
        if originalKey.hasPrefix(Self.textEncoder2Prefix) {
            let keys = openCLIP.keys(of: String(originalKey.dropFirst(Self.textEncoder2Prefix.count)))
            return keys.isEmpty ? .dropped : .component(.textEncoder2, keys)
        }
        // UNet, VAE and the EMA / schedule extras are named as in SD 1.x / 2.x files; their text
        // encoders (`cond_stage_model.*`) are not SDXL's, so a key under them is unclaimed here.
        if originalKey.hasPrefix("cond_stage_model.") { return .unclaimed }
        switch original.destination(of: originalKey) {
        case .component(.unet, let key): return .component(.unet, [key])
        case .component(.vae, let key): return .component(.vae, [key])
        case .dropped: return .dropped
        case .component(.textEncoder, _), .fusedComponent, .unclaimed: return .unclaimed
        }
    }

    /// Every diffusers / transformers key `originalKey` holds for `component`.
    public func keys(of originalKey: String, in component: Component) -> [MappedTensorKey] {
        guard case .component(component, let keys) = destination(of: originalKey) else { return [] }
        return keys
    }
}
