import Foundation
import NeuralNet
import SafeTensors
import TensorEngine

extension UNet2DConditionModel {
    /// Weights file of a diffusers unet folder.
    public static let weightsFileName = "diffusion_pytorch_model.safetensors"

    /// Loads a diffusers unet folder: `config.json` (validated) and `diffusion_pytorch_model.safetensors`
    /// or its fp16 variant (`ComponentWeightsFile`; fp32, fp16 or bf16 tensors), strictly — every key must match the configuration's architecture.
    public static func load(folder: URL) throws -> UNet2DConditionModel {
        let configURL = folder.appendingPathComponent("config.json")
        let config = try UNet2DConditionConfiguration.load(from: configURL)
        guard let weights = ComponentWeightsFile.locate(weightsFileName, in: folder) else {
            throw SafeTensorsError.fileNotFound(path: folder.appendingPathComponent(weightsFileName).path)
        }
        let source = try TensorSource(path: weights.path)
        try checkSize(config, against: source, configFile: configURL.path)
        let model = try UNet2DConditionModel(configuration: config, source: configURL.path)
        try model.load(from: source)
        return model
    }

    /// Refuses, before any allocation, a configuration that needs more parameters than `source` holds.
    public static func checkSize(_ config: UNet2DConditionConfiguration, against source: TensorSource, configFile: String) throws {
        let needed = config.minimumParameterCount
        let held = source.elementCount
        guard source.plausiblyHolds(parameterCount: needed) else {
            throw UNetConfigurationError.invalid(
                path: configFile, field: "block_out_channels",
                reason: "the configuration needs at least \(needed) parameters but \(source.name) holds \(held) values")
        }
    }
}
