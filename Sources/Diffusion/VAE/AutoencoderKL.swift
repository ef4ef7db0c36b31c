import Foundation
import NeuralNet
import SafeTensors
import TensorEngine

/// diffusers `AutoencoderKL` (models/autoencoders/autoencoder_kl.py): the KL-regularised image
/// autoencoder of Stable Diffusion (Rombach et al. 2022, sec. 3). Parameter keys follow the diffusers
/// checkpoint (`encoder.*`, `quant_conv`, `post_quant_conv`, `decoder.*`).
///
/// Latents handed to the UNet are `encode(x).sample(...) * scalingFactor` (or the mean); the caller
/// applies the scaling, and `decode` expects unscaled latents (divide by the factor first).
public final class AutoencoderKL: Module {
    let encoder: VAEEncoder
    let decoder: VAEDecoder
    let quant_conv: Conv2d?
    let post_quant_conv: Conv2d?
    /// Not a parameter (skipped by the reflection).
    public let configuration: AutoencoderKLConfiguration

    /// A model with zero weights for a validated configuration; `load(from:)` fills them.
    public init(_ configuration: AutoencoderKLConfiguration) throws {
        try configuration.validate(source: "AutoencoderKL configuration")
        self.configuration = configuration
        encoder = VAEEncoder(configuration)
        decoder = VAEDecoder(configuration)
        let l = configuration.latentChannels
        quant_conv = configuration.useQuantConv ? Conv2d(2 * l, 2 * l, kernelSize: 1) : nil
        post_quant_conv = configuration.usePostQuantConv ? Conv2d(l, l, kernelSize: 1) : nil
    }

    /// Reads `config.json` and `diffusion_pytorch_model.safetensors` (fp32 or fp16), or its fp16 variant
    /// when that is the one file (`ComponentWeightsFile`), from a diffusers `vae` folder, strictly: every weight must be present with the configured shape and no other.
    public static func load(folder: URL) throws -> AutoencoderKL {
        let configURL = folder.appendingPathComponent("config.json")
        let weightsName = "diffusion_pytorch_model.safetensors"
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw AutoencoderKLError.missingFile(path: configURL.path, expected: "the VAE's config.json")
        }
        guard let weightsURL = ComponentWeightsFile.locate(weightsName, in: folder) else {
            throw AutoencoderKLError.missingFile(
                path: folder.appendingPathComponent(weightsName).path,
                expected: "the VAE's weights in safetensors format, " + ComponentWeightsFile.expectedNames(weightsName))
        }
        let configuration = try AutoencoderKLConfiguration.load(from: configURL)
        let source = try TensorSource(path: weightsURL.path)
        try checkSize(configuration, against: source, configFile: configURL.path)
        let model = try AutoencoderKL(configuration)
        try model.load(from: source)
        return model
    }

    /// Refuses, before any allocation, a configuration that needs more parameters than `source` holds.
    public static func checkSize(_ configuration: AutoencoderKLConfiguration, against source: TensorSource, configFile: String) throws {
        let needed = configuration.minimumParameterCount
        let held = source.elementCount
        guard source.plausiblyHolds(parameterCount: needed) else {
            throw AutoencoderKLError.invalidConfig(
                path: configFile, field: "block_out_channels",
                reason: "needs at least \(needed) parameters but \(source.name) holds \(held) values")
        }
    }

    /// Pixels per latent cell along each side (2^(blocks − 1)).
    public var spatialScaleFactor: Int { configuration.spatialScaleFactor }

    /// Posterior over latents for images in [−1, 1]. H and W must be multiples of the scale factor.
    // x: [B, in_channels, H, W] -> distribution over [B, latent, H / f, W / f]
    public func encode(_ x: Tensor) throws -> DiagonalGaussian {
        let f = spatialScaleFactor
        guard x.rank == 4, x.shape[1] == configuration.inChannels, x.shape[2] % f == 0, x.shape[3] % f == 0,
            x.shape[2] > 0, x.shape[3] > 0
        else {
            throw AutoencoderKLError.invalidInput(
                "VAE encode: expected images [B, \(configuration.inChannels), H, W] with H and W multiples of \(f), got \(x.shape)")
        }
        var moments = encoder(x)
        if let quant_conv { moments = quant_conv(moments) }
        return DiagonalGaussian(parameters: moments)
    }

    /// Image from unscaled latents (output roughly in [−1, 1], not clamped).
    // z: [B, latent, h, w] -> [B, out_channels, h·f, w·f]
    public func decode(_ z: Tensor) throws -> Tensor {
        guard z.rank == 4, z.shape[1] == configuration.latentChannels, z.shape[2] > 0, z.shape[3] > 0 else {
            throw AutoencoderKLError.invalidInput(
                "VAE decode: expected latents [B, \(configuration.latentChannels), h, w], got \(z.shape)")
        }
        let h = post_quant_conv.map { $0(z) } ?? z
        return decoder(h)
    }
}
