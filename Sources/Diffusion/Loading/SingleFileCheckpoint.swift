import Foundation
import NeuralNet
import SafeTensors

/// A Stable Diffusion 1.x or 2.x single-file checkpoint (one .safetensors with the original CompVis /
/// A1111 / Stability key names; 2.x keeps an OpenCLIP text encoder, `OpenCLIPTextKeyMap`), opened once and seen as three `TensorSource`s in diffusers / transformers key space.
///
/// The file carries no configuration: the caller supplies the layouts (from embedded SD1.x configs or a
/// diffusers folder's configs). Each source is named after the file and component in error messages;
/// `module.load(from:)` then reports missing / unexpected / mis-shaped keys by name as usual.
/// The text encoder's keys are `text_model.*` (as SD1.x diffusers folders store them); a module without
/// that level uses `textEncoder.subset(prefix: "text_model")`.
public final class SingleFileCheckpoint {
    /// The checkpoint file.
    public let path: String
    /// The opened file (memory-mapped once, shared by the three sources).
    public let file: SafeTensorsFile
    /// `model.diffusion_model.*` as `UNet2DConditionModel` keys.
    public let unet: TensorSource
    /// `first_stage_model.*` as `AutoencoderKL` keys (attention 1x1-conv weights load into [C, C]).
    public let vae: TensorSource
    /// `cond_stage_model.transformer.*` (SD 1.x) or `cond_stage_model.model.*` (SD 2.x, fused
    /// attention projections split) as `CLIPTextModel` keys (`text_model.*`).
    public let textEncoder: TensorSource
    /// Keys of the file that no model uses and that were dropped as known extras (EMA, schedule buffers).
    public let droppedKeys: [String]
    /// Keys outside every component that are not known extras (empty unless `allowingUnclaimedKeys`).
    public let unclaimedKeys: [String]

    /// The safetensors file at `path`; a pickle checkpoint (.ckpt, .pt, .pth, .bin) is refused by
    /// name before it is opened. Shared by the SD 1.x / 2.x and the SDXL single-file readers.
    static func openSafeTensors(_ path: String) throws -> SafeTensorsFile {
        let ext = (path as NSString).pathExtension.lowercased()
        if ["ckpt", "pt", "pth", "bin"].contains(ext) { throw SingleFileCheckpointError.unsupportedFormat(path: path) }
        return try SafeTensorsFile(path: path)
    }

    /// What a single-file reader does with one key of the file.
    enum KeyFate { case loaded, dropped, unclaimed }

    /// The file's keys dropped as known extras and those that belong to no component, each sorted.
    /// Shared by the SD 1.x / 2.x and the SDXL single-file readers.
    static func partitionKeys(of file: SafeTensorsFile, _ fate: (String) -> KeyFate) -> (dropped: [String], unclaimed: [String]) {
        var dropped: [String] = []
        var unclaimed: [String] = []
        for key in file.keys {
            switch fate(key) {
            case .dropped: dropped.append(key)
            case .unclaimed: unclaimed.append(key)
            case .loaded: break
            }
        }
        return (dropped.sorted(), unclaimed.sorted())
    }

    /// Opens `path` and maps its keys with the given layouts. Throws, naming the file, for a pickle
    /// checkpoint, an unreadable file, or (unless `allowingUnclaimedKeys`) keys that belong to no component.
    public init(
        path: String, unet unetLayout: UNetLayout, vae vaeLayout: VAELayout, textLayerCount: Int? = nil,
        allowingUnclaimedKeys: Bool = false
    ) throws {
        self.path = path
        let file = try Self.openSafeTensors(path)
        self.file = file
        let map = OriginalCheckpointKeyMap(unet: unetLayout, vae: vaeLayout, textLayerCount: textLayerCount)
        let (dropped, unclaimed) = Self.partitionKeys(of: file) { key in
            switch map.destination(of: key) {
            case .dropped: .dropped
            case .unclaimed: .unclaimed
            case .component, .fusedComponent: .loaded
            }
        }
        if !unclaimed.isEmpty && !allowingUnclaimedKeys {
            throw SingleFileCheckpointError.unclaimedKeys(unclaimed, path: path)
        }
        droppedKeys = dropped
        unclaimedKeys = unclaimed
        let sources = try [
            (OriginalCheckpointKeyMap.Component.unet, OriginalCheckpointKeyMap.unetPrefix),
            (.vae, OriginalCheckpointKeyMap.vaePrefix),
            (
                .textEncoder,
                Self.hasOpenCLIPTextEncoder(file) ? OriginalCheckpointKeyMap.openCLIPTextEncoderPrefix : OriginalCheckpointKeyMap.textEncoderPrefix
            )
        ].map { component, prefix in
            try TensorSource(files: [file], name: "\(path) [\(prefix)*]", keyMappings: { map.keys(of: $0, in: component) })
        }
        unet = sources[0]
        vae = sources[1]
        textEncoder = sources[2]
    }

    /// Whether `file` holds an SD 2.x OpenCLIP text encoder (`cond_stage_model.model.*` keys).
    public static func hasOpenCLIPTextEncoder(_ file: SafeTensorsFile) -> Bool {
        file.keys.contains { $0.hasPrefix(OriginalCheckpointKeyMap.openCLIPTextEncoderPrefix) }
    }

    /// Whether `file` looks like an original-layout single file (it has `model.diffusion_model.*` keys).
    public static func isOriginalLayout(_ file: SafeTensorsFile) -> Bool {
        file.keys.contains { $0.hasPrefix(OriginalCheckpointKeyMap.unetPrefix) }
    }
}
