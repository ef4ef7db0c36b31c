import CLIP
import Diffusion
import Foundation
import NeuralNet
import SafeTensors

/// Writes the embedded model as a diffusers folder (`model_index.json`, `unet/`, `text_encoder/`,
/// `tokenizer/`, `scheduler/`, no `vae/`), loadable by sepme's `ModelFolder`, diffusers'
/// `UNet2DConditionModel.from_pretrained` and transformers' `CLIPTextModel.from_pretrained`.
/// The folder is assembled beside the destination and renamed into place; an existing folder is
/// replaced only once the new one is complete.
public enum ToyModelFolder {
    /// The committed embedded model in the Toy resource bundle.
    public static var bundled: URL? {
        Bundle.module.url(forResource: "toy-model", withExtension: nil, subdirectory: "Resources")
    }

    public static func write(text: CLIPTextModel, unet: UNet2DConditionModel, architecture: ToyModelArchitecture,
                             to destination: URL, metadata: [String: String]) throws {
        let fm = FileManager.default
        let parent = destination.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path) else {
            throw ToyError("\(destination.path): parent folder \(parent.path) does not exist")
        }
        let tmp = parent.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString.prefix(8))")
        do {
            for sub in ["unet", "text_encoder", "scheduler"] {
                try fm.createDirectory(at: tmp.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
            try ToyVocabulary.trained().write(folder: tmp.appendingPathComponent("tokenizer").path)
            try writeJSON(modelIndex, to: tmp.appendingPathComponent("model_index.json"))
            var unetConfig = try jsonObject(architecture.unetConfiguration)
            unetConfig["_class_name"] = "UNet2DConditionModel"
            unetConfig["_diffusers_version"] = "0.30.0"
            try writeJSON(unetConfig, to: tmp.appendingPathComponent("unet/config.json"))
            var textConfig = try jsonObject(architecture.textConfiguration)
            textConfig["architectures"] = ["CLIPTextModel"]
            textConfig["model_type"] = "clip_text_model"
            textConfig["torch_dtype"] = "float32"
            textConfig["projection_dim"] = architecture.textWidth
            try writeJSON(textConfig, to: tmp.appendingPathComponent("text_encoder/config.json"))
            try Data(ToyModelArchitecture.schedulerConfigJSON.utf8).write(to: tmp.appendingPathComponent("scheduler/scheduler_config.json"))
            try writeWeights(unet, to: tmp.appendingPathComponent("unet/" + UNet2DConditionModel.weightsFileName), metadata: metadata)
            try writeWeights(text, to: tmp.appendingPathComponent("text_encoder/model.safetensors"), metadata: metadata)
            if fm.fileExists(atPath: destination.path) {
                let old = parent.appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
                try fm.moveItem(at: destination, to: old)
                try fm.moveItem(at: tmp, to: destination)
                try? fm.removeItem(at: old)
            } else {
                try fm.moveItem(at: tmp, to: destination)
            }
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }

    static let modelIndex: [String: Any] = [
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDPMScheduler"],
        "vae": [NSNull(), NSNull()], "safety_checker": [NSNull(), NSNull()],
        "feature_extractor": [NSNull(), NSNull()], "requires_safety_checker": false,
    ]

    static func jsonObject<T: Encodable>(_ value: T) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ToyError("configuration did not encode to a JSON object")
        }
        return object
    }

    static func writeJSON(_ object: [String: Any], to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try (data + Data("\n".utf8)).write(to: url)
    }

    static func writeWeights(_ module: Module, to url: URL, metadata: [String: String]) throws {
        var writer = SafeTensorsWriter()
        for (key, p) in module.namedParameters() {
            try writer.add(key, shape: p.shape, floats: UnsafeBufferPointer(start: p.pointer, count: p.count))
        }
        var m = metadata
        m["format"] = "pt"
        try writer.write(to: url.path, metadata: m)
    }
}
