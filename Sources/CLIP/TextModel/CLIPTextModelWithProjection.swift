import Foundation
import NeuralNet
import SafeTensors
import TensorEngine

/// What `CLIPTextModelWithProjection` returns for a batch of token ids.
public struct CLIPTextModelWithProjectionOutput {
    /// [B, P] `text_projection` of the pooled (EOS) state: transformers' `text_embeds`, SDXL's
    /// `pooled_prompt_embeds`.
    public let textEmbeds: Tensor
    /// The text transformer's own output (last hidden state, pooled state, hidden states).
    public let text: CLIPTextOutput
}

/// transformers' CLIPTextModelWithProjection (models/clip/modeling_clip.py): the CLIP text
/// transformer and a bias-free `text_projection` (hidden size → `projection_dim`) of the pooled
/// output, the hidden state at each row's EOS token (`CLIPTextTransformer.pooledPosition`). SDXL's
/// `text_encoder_2` (OpenCLIP ViT-bigG as diffusers stores it). Parameter keys are the checkpoint's:
/// `text_model.…` and `text_projection.weight`.
public final class CLIPTextModelWithProjection: Module {
    public let text_model: CLIPTextTransformer
    public let text_projection: Linear

    /// CLIPTextConfig's `projection_dim` when a config.json has none.
    public static let defaultProjectionDimension = 512

    /// A model of the given shape with placeholder weights (zeros; LayerNorm 1/0), to be loaded;
    /// `projectionDimension` is `text_projection`'s output width (`projection_dim`).
    public init(configuration: CLIPTextConfiguration, projectionDimension: Int) {
        text_model = CLIPTextTransformer(configuration)
        text_projection = Linear(configuration.hiddenSize, projectionDimension, bias: false)
    }

    public var configuration: CLIPTextConfiguration { text_model.configuration }
    /// Width of `textEmbeds` (`projection_dim`).
    public var projectionDimension: Int { text_projection.weight.shape[0] }

    /// `projection_dim` of a transformers `config.json` (`CLIPTextConfiguration` leaves it out, as
    /// it does not change the text model), CLIPTextConfig's default 512 when absent or null.
    public static func projectionDimension(configFile url: URL) throws -> Int {
        let key = "projection_dim"
        let file = try CLIPTextConfiguration.configurationFile(url) { try $0.check(integers: [key: 1...16_384]) }
        return (file.object[key] as? NSNumber)?.intValue ?? defaultProjectionDimension
    }

    /// Throws `CLIPTextModelError.invalidInput` naming the first offending row / id.
    public func validate(_ ids: [[Int]]) throws { try text_model.validate(ids) }

    /// Runs the encoder and the projection on a batch of equally long rows of ids (check untrusted
    /// ids with `validate` first).
    // ids: B rows of L ids -> textEmbeds [B, P], text: [B, L, D] / [B, D] / (N+1) x [B, L, D]
    public func callAsFunction(_ ids: [[Int]], outputHiddenStates: Bool = false) -> CLIPTextModelWithProjectionOutput {
        let text = text_model(ids, outputHiddenStates: outputHiddenStates)
        return CLIPTextModelWithProjectionOutput(textEmbeds: text_projection(text.pooled), text: text)
    }

    /// Loads a transformers folder: `config.json` (with `projection_dim`) and `model.safetensors` or its fp16 variant
    /// (`ComponentWeightsFile`), strictly. Keys as transformers 4.x writes them (`text_model.` prefix)
    /// or without that prefix (as `CLIPTextModel.weightSource` accepts); `text_projection.weight` in both.
    public static func load(folder: URL) throws -> CLIPTextModelWithProjection {
        let configURL = folder.appendingPathComponent("config.json")
        let configuration = try CLIPTextConfiguration.load(from: configURL)
        let projection = try projectionDimension(configFile: configURL)
        guard let weightsURL = ComponentWeightsFile.locate("model.safetensors", in: folder) else {
            throw CLIPTextModelError.fileNotFound(
                path: folder.appendingPathComponent("model.safetensors").path,
                what: "text encoder weights " + ComponentWeightsFile.expectedNames("model.safetensors"))
        }
        let files = [try SafeTensorsFile(path: weightsURL.path)]
        let prefixed = files.contains { file in file.keys.contains { $0.hasPrefix("text_model.") } }
        let source = try TensorSource(files: files) { key in
            prefixed || key.hasPrefix("text_projection.") ? key : "text_model." + key
        }
        try CLIPTextModel.checkSize(configuration, against: source, configFile: configURL.path)
        let model = CLIPTextModelWithProjection(configuration: configuration, projectionDimension: projection)
        try model.load(from: source)
        return model
    }
}

extension CLIPTextOutput {
    /// The output of the last layer but one, without the final layer norm (transformers'
    /// `hidden_states[-2]`): the prompt embedding of both SDXL text encoders. nil unless the hidden
    /// states were requested.
    // -> [B, L, D]
    public var penultimateHiddenState: Tensor? {
        guard let hiddenStates, hiddenStates.count >= 2 else { return nil }
        return hiddenStates[hiddenStates.count - 2]
    }
}
