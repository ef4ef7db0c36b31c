import CLIP
import Diffusion
import Foundation
import NeuralNet
import SafeTensors

/// Writes the embedded model as a diffusers folder (`model_index.json`, `unet/`, `text_encoder/`,
/// `tokenizer/`, `scheduler/`, no `vae/`), loadable by sepme's `ModelFolder`, diffusers'
/// `UNet2DConditionModel.from_pretrained` and transformers' `CLIPTextModel.from_pretrained`.
/// Written by Diffusion's `DiffusersFolderWriter`: assembled beside the destination and renamed into
/// place; an existing folder is replaced only once the new one is complete.
public enum ToyModelFolder {
    /// The committed embedded model in the Toy resource bundle.
    public static var bundled: URL? {
        Bundle.module.url(forResource: "toy-model", withExtension: nil, subdirectory: "Resources")
    }

    /// Writes the folder with `DiffusersFolderWriter` (an existing destination is replaced once the
    /// new folder is complete). `shouldStop` is polled between files; a stop throws
    /// `DiffusersFolderWriterError.interrupted` and leaves the destination as it was.
    public static func write(
        text: CLIPTextModel, unet: UNet2DConditionModel, architecture: ToyModelArchitecture,
        to destination: URL, metadata: [String: String], shouldStop: (() -> Bool)? = nil
    ) throws {
        let parent = destination.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: parent.path) else {
            throw ToyError("\(destination.path): parent folder \(parent.path) does not exist")
        }
        var unetConfig = try jsonObject(architecture.unetConfiguration)
        unetConfig["_class_name"] = "UNet2DConditionModel"
        unetConfig["_diffusers_version"] = "0.30.0"
        var textConfig = try jsonObject(architecture.textConfiguration)
        textConfig["architectures"] = ["CLIPTextModel"]
        textConfig["model_type"] = "clip_text_model"
        textConfig["torch_dtype"] = "float32"
        textConfig["projection_dim"] = architecture.textWidth
        var weightsMetadata = metadata
        weightsMetadata["format"] = "pt"
        var writer = DiffusersFolderWriter()
        writer.add("tokenizer", .produced { url in try ToyVocabulary.trained().write(folder: url.path) })
        writer.add("model_index.json", .data(try jsonData(modelIndex)))
        writer.add("unet/config.json", .data(try jsonData(unetConfig)))
        writer.add("text_encoder/config.json", .data(try jsonData(textConfig)))
        writer.add("scheduler/scheduler_config.json", .data(Data(ToyModelArchitecture.schedulerConfigJSON.utf8)))
        writer.add("unet/" + UNet2DConditionModel.weightsFileName, .weights(unet, metadata: weightsMetadata) { _ in .f32 })
        writer.add("text_encoder/model.safetensors", .weights(text, metadata: weightsMetadata) { _ in .f32 })
        try writer.write(to: destination, existing: .replace, shouldStop: shouldStop)
    }

    /// Built on each use: a `[String: Any]` value is not `Sendable`, so it cannot be a stored global.
    static var modelIndex: [String: Any] {
        [
            "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
            "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDPMScheduler"],
            "vae": [NSNull(), NSNull()], "safety_checker": [NSNull(), NSNull()],
            "feature_extractor": [NSNull(), NSNull()], "requires_safety_checker": false
        ]
    }

    static func jsonObject<T: Encodable>(_ value: T) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ToyError("configuration did not encode to a JSON object")
        }
        return object
    }

    static func jsonData(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
    }
}
