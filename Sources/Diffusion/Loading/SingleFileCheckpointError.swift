/// Why a single-file checkpoint cannot be opened or mapped. Messages name the file or the setting.
public enum SingleFileCheckpointError: Error, CustomStringConvertible, Equatable {
    /// A pickle checkpoint (.ckpt / .pt / .pth / .bin): only safetensors files are read.
    case unsupportedFormat(path: String)
    /// A configuration value the key mapping does not handle.
    case unsupportedLayout(String)
    /// Keys that belong to none of the models of the file's layout (SD 1.x / 2.x: UNet, VAE, text
    /// encoder; SDXL: also the second text encoder) and are not known extras.
    case unclaimedKeys([String], path: String, family: ModelFamily = .stableDiffusion1)
    /// A file whose keys mark no known family's layout (`ModelFamily.detect`): its first keys, sorted.
    case unknownLayout(path: String, firstKeys: [String])

    public var description: String {
        switch self {
        case .unsupportedFormat(let path):
            return
                "\(path): only .safetensors single-file checkpoints are supported (pickle .ckpt/.pt files are not read); convert it to safetensors first"
        case .unsupportedLayout(let what):
            return "single-file checkpoint mapping does not support \(what)"
        case .unknownLayout(let path, let keys):
            return "\(path): the keys are of no single-file layout sepme knows (SD 1.x: cond_stage_model.transformer.*, "
                + "SD 2.x: cond_stage_model.model.*, SDXL: \(SDXLCheckpointKeyMap.textEncoderPrefix)* and "
                + "\(SDXLCheckpointKeyMap.textEncoder2Prefix)*, each with model.diffusion_model.*); first keys: "
                + (keys.isEmpty ? "none" : keys.joined(separator: ", "))
        case .unclaimedKeys(let keys, let path, let family):
            let shown = keys.prefix(8).joined(separator: ", ")
            let encoders =
                family == .stableDiffusionXL
                ? "\(SDXLCheckpointKeyMap.textEncoderPrefix)*, \(SDXLCheckpointKeyMap.textEncoder2Prefix)* (Stable Diffusion XL)"
                : "cond_stage_model.transformer.* (SD 2.x: cond_stage_model.model.*)"
            return "\(path): \(keys.count) key(s) belong to none of model.diffusion_model.*, first_stage_model.*, "
                + "\(encoders) and are not known extras: "
                + (keys.count > 8 ? "\(shown), ... (\(keys.count) in all)" : shown)
        }
    }
}
