import Foundation
import NeuralNet

/// A diffusers model folder (`model_index.json`, `unet/`, `text_encoder/`, `tokenizer/`, optional
/// `vae/`, `scheduler/`; SDXL also `text_encoder_2/`, `tokenizer_2/`), checked up front so that a
/// missing piece is named before any work starts.
///
/// Stable Diffusion XL is recognised by `model_index.json`'s `_class_name` (`StableDiffusionXLPipeline`)
/// or, without one, by a `text_encoder_2` component; its second encoder and tokenizer are then required.
public struct ModelFolder: Sendable {
    public let url: URL
    public let unet: URL
    public let textEncoder: URL
    public let tokenizer: URL
    /// nil for pixel-space models: their latents are the image.
    public let vae: URL?
    public let schedulerConfig: URL
    /// The weights files, each the plain file or, when that is absent, its fp16 variant
    /// (`ComponentWeightsFile`): what the loaders read and `ModelFolderWriter` replaces.
    public let unetWeights: URL
    public let textEncoderWeights: URL
    public let vaeWeights: URL?
    /// SDXL's `text_encoder_2` (`CLIPTextModelWithProjection`) and `tokenizer_2`; nil for SD 1.x / 2.x.
    public let textEncoder2: URL?
    public let tokenizer2: URL?
    public let textEncoder2Weights: URL?
    /// `force_zeros_for_empty_prompt` of `model_index.json` (SDXL: an absent negative prompt gives
    /// zero embeddings); diffusers' default true when absent.
    public let forceZerosForEmptyPrompt: Bool

    /// Whether the folder holds a Stable Diffusion XL model (two text encoders).
    public var isStableDiffusionXL: Bool { textEncoder2 != nil }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notAFolder(String)
        case missingFile(String, what: String)
        case invalidModelIndex(String, reason: String)

        public var description: String {
            switch self {
            case .notAFolder(let p): return "\(p): not a model folder (expected a diffusers folder with model_index.json)"
            case .missingFile(let p, let what): return "\(p): missing (\(what))"
            case .invalidModelIndex(let p, let r): return "\(p): \(r)"
            }
        }
    }

    public init(path: String) throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw Error.notAFolder(path)
        }
        self.url = url
        let index = url.appendingPathComponent("model_index.json")
        let (components, pipelineClass, forceZeros) = try ModelFolder.readIndex(index)
        let classFamily = pipelineClass.flatMap { ModelFamily.family(ofPipelineClass: $0) }
        if let pipelineClass, let family = classFamily, !family.isSupported {
            throw UnsupportedModelFamilyError(path: index.path, family: family, evidence: "_class_name \(pipelineClass)")
        }
        forceZerosForEmptyPrompt = forceZeros
        func component(_ name: String, required: Bool) throws -> URL? {
            let dir = url.appendingPathComponent(name)
            if let components, components[name] == nil {
                if required { throw Error.invalidModelIndex(index.path, reason: "no '\(name)' component listed") }
                return nil
            }
            guard FileManager.default.fileExists(atPath: dir.path) else {
                if required { throw Error.missingFile(dir.path, what: "the \(name) component") }
                return nil
            }
            return dir
        }
        unet = try component("unet", required: true)!
        textEncoder = try component("text_encoder", required: true)!
        tokenizer = try component("tokenizer", required: true)!
        vae = try component("vae", required: false)
        let hasSecondEncoder = try component("text_encoder_2", required: false) != nil
        let isXL = classFamily == .stableDiffusionXL || hasSecondEncoder
        textEncoder2 = isXL ? try component("text_encoder_2", required: true) : nil
        tokenizer2 = isXL ? try component("tokenizer_2", required: true) : nil
        let scheduler = try component("scheduler", required: true)!
        schedulerConfig = scheduler.appendingPathComponent("scheduler_config.json")
        for dir in [unet, textEncoder] + [vae, textEncoder2].compactMap({ $0 }) {
            let p = dir.appendingPathComponent("config.json").path
            guard FileManager.default.fileExists(atPath: p) else {
                throw Error.missingFile(p, what: "\(dir.lastPathComponent) configuration")
            }
        }
        func weights(_ dir: URL, _ name: String) throws -> URL {
            guard let file = ComponentWeightsFile.locate(name, in: dir) else {
                throw Error.missingFile(
                    dir.appendingPathComponent(name).path,
                    what: "\(dir.lastPathComponent) weights in safetensors format, \(ComponentWeightsFile.expectedNames(name))")
            }
            return file
        }
        unetWeights = try weights(unet, "diffusion_pytorch_model.safetensors")
        textEncoderWeights = try weights(textEncoder, "model.safetensors")
        vaeWeights = try vae.map { try weights($0, "diffusion_pytorch_model.safetensors") }
        textEncoder2Weights = try textEncoder2.map { try weights($0, "model.safetensors") }
        guard FileManager.default.fileExists(atPath: schedulerConfig.path) else {
            throw Error.missingFile(schedulerConfig.path, what: "scheduler configuration")
        }
    }

    /// The component names listed in model_index.json, its `_class_name` (nil when the file is
    /// absent) and `force_zeros_for_empty_prompt` (true when absent, as diffusers' default).
    static func readIndex(_ url: URL) throws -> (components: [String: Any]?, pipelineClass: String?, forceZeros: Bool) {
        guard FileManager.default.fileExists(atPath: url.path) else { return (nil, nil, true) }
        guard let data = FileManager.default.contents(atPath: url.path),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw Error.invalidModelIndex(url.path, reason: "not a JSON object")
        }
        // Entries like "unet": ["diffusers", "UNet2DConditionModel"]; null entries mean "absent".
        let components = obj.filter { entry in
            guard !entry.key.hasPrefix("_") else { return false }
            if let pair = entry.value as? [Any], pair.allSatisfy({ $0 is NSNull }) { return false }
            return !(entry.value is NSNull)
        }
        var forceZeros = true
        if let value = obj["force_zeros_for_empty_prompt"], !(value is NSNull) {
            guard let flag = value as? NSNumber, ConfigurationFile.isBooleanValue(flag) else {
                throw Error.invalidModelIndex(url.path, reason: "field 'force_zeros_for_empty_prompt': expected true or false")
            }
            forceZeros = flag.boolValue
        }
        return (components, obj["_class_name"] as? String, forceZeros)
    }
}
