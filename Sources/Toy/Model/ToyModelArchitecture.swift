import CLIP
import Diffusion
import Foundation
import NeuralNet
import TensorEngine

/// The embedded default model's architecture: a CLIP-architecture text encoder over the toy BPE
/// vocabulary and a pixel-space UNet2DConditionModel (no VAE) for 32×32 RGB pictures, with the
/// noise schedule it is trained and sampled with. Every size is an ordinary diffusers /
/// transformers configuration field, so the folder loads like any SD1-family model.
public struct ToyModelArchitecture: Codable, Equatable, Sendable {
    /// Text width d. SepME needs rank(M_k) < d: each prompt adds up to `maxLength - 1` rows beyond
    /// the shared BOS row, so 256 leaves an exact null space for a dozen 16-token prompts.
    public var textWidth = 256
    public var textLayers = 3
    public var textHeads = 4
    public var textIntermediate = 512
    /// UNet channels per resolution (32², 16², 8²).
    public var channels = [32, 64, 96]
    /// Attention heads in the UNet transformer blocks (diffusers' `attention_head_dim` quirk: heads).
    public var unetHeads = 4
    public var normGroups = 8

    public init() {}

    public var textConfiguration: CLIPTextConfiguration {
        let vocabulary = ToyVocabulary.trained()
        let bos = vocabulary.tokens.firstIndex(of: ToyVocabulary.startOfText)!
        let eos = vocabulary.tokens.firstIndex(of: ToyVocabulary.endOfText)!
        return CLIPTextConfiguration(
            vocabularySize: vocabulary.tokens.count, hiddenSize: textWidth, intermediateSize: textIntermediate,
            layerCount: textLayers, headCount: textHeads, maxPositionEmbeddings: ToyVocabulary.maxLength,
            hiddenActivation: .quickGelu, layerNormEps: 1e-5, bosTokenId: bos, eosTokenId: eos, padTokenId: eos)
    }

    /// No cross-attention at 32² (self-attention over 1024 tokens would dominate the cost); text
    /// enters at 16² and 8² and in the middle block.
    public var unetConfiguration: UNet2DConditionConfiguration {
        var c = UNet2DConditionConfiguration()
        c.inChannels = 3
        c.outChannels = 3
        c.sampleSize = .one(ToyConcepts.imageSize)
        let attended = max(channels.count - 1, 0)
        c.downBlockTypes = [.plain] + Array(repeating: .crossAttention, count: attended)
        c.upBlockTypes = Array(repeating: .crossAttention, count: attended) + [.plain]
        c.blockOutChannels = channels
        c.layersPerBlock = .one(1)
        c.attentionHeadDim = .one(unetHeads)
        c.crossAttentionDim = .one(textWidth)
        c.normNumGroups = normGroups
        return c
    }

    /// DDPM's linear schedule for pixel-space models (Ho et al. 2020), sampled with DDPM's ancestral
    /// steps (diffusers `DDPMScheduler`, fixed-small variance); the prediction of x0 is clipped to
    /// the image range, as diffusers' pixel-space pipelines do. Deterministic DDIM (eta 0) with
    /// guidance washes this small model's colours out and loses the logo; the stochastic steps
    /// correct its errors (docs/toy-model.md).
    public static let schedulerConfigJSON = """
        {
          "_class_name": "DDPMScheduler",
          "_diffusers_version": "0.30.0",
          "beta_end": 0.02,
          "beta_schedule": "linear",
          "beta_start": 0.0001,
          "clip_sample": true,
          "clip_sample_range": 1.0,
          "num_train_timesteps": 1000,
          "prediction_type": "epsilon",
          "steps_offset": 0,
          "thresholding": false,
          "timestep_spacing": "leading",
          "trained_betas": null,
          "variance_type": "fixed_small"
        }
        """

    public var schedulerConfiguration: SchedulerConfiguration {
        get throws { try JSONDecoder().decode(SchedulerConfiguration.self, from: Data(Self.schedulerConfigJSON.utf8)) }
    }

    /// Fresh models: transformers' CLIP initialisation for the text encoder, PyTorch's default
    /// layer initialisation (uniform ±1/sqrt(fan_in), torch.nn.Linear / Conv2d `reset_parameters`)
    /// for the UNet, both drawn from `seed`.
    public func makeModels(seed: UInt64) throws -> (text: CLIPTextModel, unet: UNet2DConditionModel) {
        let text = CLIPTextModel(configuration: textConfiguration)
        var generator = PyTorchGenerator(seed: seed)
        text.initializeParameters(generator: &generator)
        let unet = try UNet2DConditionModel(configuration: unetConfiguration, source: "toy architecture")
        Self.initializeLikePyTorch(unet, generator: &generator)
        return (text, unet)
    }

    static func initializeLikePyTorch(_ module: Module, generator: inout PyTorchGenerator) {
        func uniform(_ t: Tensor, bound: Float) {
            let u = Tensor.rand(t.shape, generator: &generator)
            for i in 0..<t.count { t.pointer[i] = (2 * u.pointer[i] - 1) * bound }
        }
        for (_, m) in module.namedModules() {
            if let conv = m as? Conv2d {
                let fanIn = conv.weight.count / conv.weight.shape[0]
                let bound = 1 / Float(fanIn).squareRoot()
                uniform(conv.weight, bound: bound)
                if let b = conv.bias { uniform(b, bound: bound) }
            } else if let linear = m as? Linear {
                let bound = 1 / Float(linear.inFeatures).squareRoot()
                uniform(linear.weight, bound: bound)
                if let b = linear.bias { uniform(b, bound: bound) }
            } else if let norm = m as? GroupNorm {
                norm.weight.fill(1)
                norm.bias.fill(0)
            } else if let norm = m as? LayerNorm {
                norm.weight.fill(1)
                norm.bias.fill(0)
            }
        }
    }
}
