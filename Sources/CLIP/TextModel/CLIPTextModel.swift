import Foundation
import NeuralNet
import SafeTensors
import TensorEngine

/// transformers' CLIPTextModel, the SD1.x text encoder. Parameter keys equal the state-dict keys of
/// an SD1.x `text_encoder/model.safetensors` exactly (`text_model.embeddings.token_embedding.weight`,
/// `text_model.encoder.layers.N.self_attn.q_proj.weight`, ..., `text_model.final_layer_norm.bias`).
///
/// Fully differentiable: gradients reach every parameter (the token embedding included) through
/// `lastHiddenState`, `pooled` and `hiddenStates`.
public final class CLIPTextModel: Module {
    public let text_model: CLIPTextTransformer

    /// A model with the given shape and placeholder weights (zeros; LayerNorm 1/0) to be loaded or trained.
    public init(configuration: CLIPTextConfiguration) {
        text_model = CLIPTextTransformer(configuration)
    }

    public var configuration: CLIPTextConfiguration { text_model.configuration }

    /// Runs the encoder on a batch of equally long rows of token ids (at most `maxPositionEmbeddings`;
    /// SD uses the tokenizer's 77-id padded rows). Check untrusted ids with `validate` first.
    // ids: B rows of L ids -> lastHiddenState [B, L, D], pooled [B, D]
    public func callAsFunction(_ ids: [[Int]], outputHiddenStates: Bool = false) -> CLIPTextOutput {
        text_model(ids, outputHiddenStates: outputHiddenStates)
    }

    /// Throws `CLIPTextModelError.invalidInput` naming the first offending row / id.
    public func validate(_ ids: [[Int]]) throws { try text_model.validate(ids) }

    /// Loads a transformers folder: `config.json` + `model.safetensors` or, when that is absent, its
    /// fp16 variant `model.fp16.safetensors` (F32, F16 or BF16 weights; `ComponentWeightsFile`).
    /// Keys may be in the SD1.x / transformers 4.x layout (`text_model.` prefix, optional `position_ids`
    /// buffer) or in transformers 5.x's layout (no prefix). Loading is strict: a weight that is missing,
    /// unexpected or shaped otherwise than the config says throws `WeightLoadingError` naming the key.
    public static func load(folder: URL) throws -> CLIPTextModel {
        let configURL = folder.appendingPathComponent("config.json")
        let configuration = try CLIPTextConfiguration.load(from: configURL)
        guard let weightsURL = ComponentWeightsFile.locate("model.safetensors", in: folder) else {
            throw CLIPTextModelError.fileNotFound(
                path: folder.appendingPathComponent("model.safetensors").path,
                what: "text encoder weights " + ComponentWeightsFile.expectedNames("model.safetensors"))
        }
        let source = try weightSource(files: [SafeTensorsFile(path: weightsURL.path)])
        try checkSize(configuration, against: source, configFile: configURL.path)
        let model = CLIPTextModel(configuration: configuration)
        try model.load(from: source)
        return model
    }

    /// Refuses, before any allocation, a configuration that needs more parameters than `source` holds
    /// (strict loading would fail anyway, after allocating the model the configuration describes).
    public static func checkSize(_ configuration: CLIPTextConfiguration, against source: TensorSource, configFile: String) throws {
        let needed = configuration.minimumParameterCount
        let held = source.elementCount
        guard source.plausiblyHolds(parameterCount: needed) else {
            throw CLIPTextModelError.invalidConfiguration(
                file: configFile, field: "",
                reason: "the configuration needs at least \(needed) parameters but \(source.name) holds \(held) values")
        }
    }

    /// The files' tensors keyed as this module's parameters: keys of a file that has no `text_model.`
    /// key at all (transformers 5.x `save_pretrained`) get that prefix, as transformers' own loader
    /// maps between the two layouts.
    public static func weightSource(files: [SafeTensorsFile]) throws -> TensorSource {
        let prefix = "text_model."
        let prefixed = files.contains { file in file.keys.contains { $0.hasPrefix(prefix) } }
        return try TensorSource(files: files) { key in prefixed ? key : prefix + key }
    }
}
