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

    /// Fills every weight from N(0, std²) (SplitMix64 + Box–Muller, fast rather than torch-exact),
    /// biases with 0, and normalization layers with weight 1 / bias 0 — a stand-in for benchmarks.
    public func initializeRandomly(seed: UInt64, standardDeviation: Float = 0.02) {
        var state = SplitMix64(seed: seed)
        var normParameters = Set<ObjectIdentifier>()
        for (_, module) in namedModules() {
            if let norm = module as? GroupNorm {
                norm.weight.fill(1)
                norm.bias.fill(0)
                normParameters.formUnion([ObjectIdentifier(norm.weight), ObjectIdentifier(norm.bias)])
            } else if let norm = module as? LayerNorm {
                norm.weight.fill(1)
                norm.bias.fill(0)
                normParameters.formUnion([ObjectIdentifier(norm.weight), ObjectIdentifier(norm.bias)])
            }
        }
        for (key, p) in namedParameters() where !normParameters.contains(ObjectIdentifier(p)) {
            if key.hasSuffix("bias") {
                p.fill(0)
            } else {
                Self.fillNormal(p.pointer, count: p.count, standardDeviation: standardDeviation, state: &state)
            }
        }
    }

    private static func fillNormal(_ data: UnsafeMutablePointer<Float>, count: Int, standardDeviation: Float, state: inout SplitMix64) {
        var i = 0
        while i < count {
            let bits = state.next()
            // Two 32-bit uniforms in (0, 1] and [0, 1).
            let u1 = (Float(bits >> 40) + 1) / Float(1 << 24)
            let u2 = Float((bits >> 8) & 0xFF_FFFF) / Float(1 << 24)
            let radius = standardDeviation * (-2 * Foundation.log(u1)).squareRoot()
            let angle = 2 * Float.pi * u2
            data[i] = radius * Foundation.cos(angle)
            if i + 1 < count { data[i + 1] = radius * Foundation.sin(angle) }
            i += 2
        }
    }
}
