import Foundation

/// The weights file of one component folder of a diffusers / transformers model folder, as the hub
/// lays them out: `<stem>.safetensors`, or only the half-precision variant `<stem>.fp16.safetensors`
/// (folders published with diffusers' `save_pretrained(..., variant="fp16")`, read by
/// `from_pretrained(..., variant="fp16")`; diffusers utils/hub_utils.py `_add_variant`).
///
/// The plain file wins when both are present, as diffusers loads it when no variant is asked for;
/// the variant is used only when it is the one file there. The tensors' own dtypes decide how they
/// are read, so an fp16 variant loads exactly as an fp16 plain file.
public enum ComponentWeightsFile {
    /// The variant name diffusers and the hub use for half-precision weights.
    public static let halfPrecisionVariant = "fp16"

    /// `name` with the variant inserted before its extension: `model.safetensors` -> `model.fp16.safetensors`.
    public static func variantName(of name: String, variant: String = halfPrecisionVariant) -> String {
        guard let dot = name.lastIndex(of: ".") else { return name + "." + variant }
        return String(name[..<dot]) + "." + variant + String(name[dot...])
    }

    /// The file of `folder` that holds the weights named `name`: the plain file if it exists, else its
    /// fp16 variant if that exists, else nil.
    public static func locate(_ name: String, in folder: URL) -> URL? {
        let fm = FileManager.default
        let plain = folder.appendingPathComponent(name)
        if fm.fileExists(atPath: plain.path) { return plain }
        let variant = folder.appendingPathComponent(variantName(of: name))
        return fm.fileExists(atPath: variant.path) ? variant : nil
    }

    /// "model.safetensors (or model.fp16.safetensors)": the names looked for, for messages.
    public static func expectedNames(_ name: String) -> String {
        "\(name) (or \(variantName(of: name)))"
    }
}
