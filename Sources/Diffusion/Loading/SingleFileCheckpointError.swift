/// Why a single-file checkpoint cannot be opened or mapped. Messages name the file or the setting.
public enum SingleFileCheckpointError: Error, CustomStringConvertible, Equatable {
    /// A pickle checkpoint (.ckpt / .pt / .pth / .bin): only safetensors files are read.
    case unsupportedFormat(path: String)
    /// A configuration value the key mapping does not handle.
    case unsupportedLayout(String)
    /// Keys that belong to none of UNet, VAE and text encoder and are not known extras.
    case unclaimedKeys([String], path: String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let path):
            return
                "\(path): only .safetensors single-file checkpoints are supported (pickle .ckpt/.pt files are not read); convert it to safetensors first"
        case .unsupportedLayout(let what):
            return "single-file checkpoint mapping does not support \(what)"
        case .unclaimedKeys(let keys, let path):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "\(path): \(keys.count) key(s) belong to none of model.diffusion_model.*, first_stage_model.*, "
                + "cond_stage_model.transformer.* (SD 2.x: cond_stage_model.model.*) and are not known extras: "
                + (keys.count > 8 ? "\(shown), ... (\(keys.count) in all)" : shown)
        }
    }
}
