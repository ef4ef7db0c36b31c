import Foundation
import NeuralNet
import SafeTensors

/// A Stable Diffusion XL base single-file checkpoint (one .safetensors in Stability's `sgm` key
/// layout, `SDXLCheckpointKeyMap`), opened once and seen as four `TensorSource`s in diffusers /
/// transformers key space.
///
/// Like `SingleFileCheckpoint`, the file carries no configuration: the caller supplies the layouts
/// (from a diffusers folder's configs). Each source is named after the file and component in error
/// messages; `module.load(from:)` then reports missing / unexpected / mis-shaped keys by name.
public final class SDXLSingleFileCheckpoint {
    public let path: String
    /// The opened file (memory-mapped once, shared by the four sources).
    public let file: SafeTensorsFile
    /// `model.diffusion_model.*` as `UNet2DConditionModel` keys (with `add_embedding.*`).
    public let unet: TensorSource
    /// `first_stage_model.*` as `AutoencoderKL` keys.
    public let vae: TensorSource
    /// `conditioner.embedders.0.transformer.*` as `CLIPTextModel` keys (`text_model.*`).
    public let textEncoder: TensorSource
    /// `conditioner.embedders.1.model.*` as `CLIPTextModelWithProjection` keys (`text_model.*`,
    /// `text_projection.weight`).
    public let textEncoder2: TensorSource
    /// Keys dropped as known extras (position ids, `logit_scale`, `denoiser.sigmas`, EMA copies).
    public let droppedKeys: [String]

    /// Opens `path` and maps its keys with the given layouts. Throws, naming the file, for a pickle
    /// checkpoint, an unreadable file, or keys that belong to no component and are not known extras.
    public init(path: String, unet unetLayout: UNetLayout, vae vaeLayout: VAELayout) throws {
        self.path = path
        let file = try SingleFileCheckpoint.openSafeTensors(path)
        self.file = file
        let map = SDXLCheckpointKeyMap(unet: unetLayout, vae: vaeLayout)
        let (dropped, unclaimed) = SingleFileCheckpoint.partitionKeys(of: file) { key in
            switch map.destination(of: key) {
            case .dropped: .dropped
            case .unclaimed: .unclaimed
            case .component: .loaded
            }
        }
        if !unclaimed.isEmpty {
            throw SingleFileCheckpointError.unclaimedKeys(unclaimed, path: path, family: .stableDiffusionXL)
        }
        droppedKeys = dropped
        let prefixes: [SDXLCheckpointKeyMap.Component: String] = [
            .unet: OriginalCheckpointKeyMap.unetPrefix, .vae: OriginalCheckpointKeyMap.vaePrefix,
            .textEncoder: SDXLCheckpointKeyMap.textEncoderPrefix, .textEncoder2: SDXLCheckpointKeyMap.textEncoder2Prefix
        ]
        func source(_ component: SDXLCheckpointKeyMap.Component) throws -> TensorSource {
            try TensorSource(files: [file], name: "\(path) [\(prefixes[component] ?? component.rawValue)*]") {
                map.keys(of: $0, in: component)
            }
        }
        unet = try source(.unet)
        vae = try source(.vae)
        textEncoder = try source(.textEncoder)
        textEncoder2 = try source(.textEncoder2)
    }
}
