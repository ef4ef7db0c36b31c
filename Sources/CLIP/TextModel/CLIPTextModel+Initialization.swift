import NeuralNet
import TensorEngine

extension CLIPTextModel {
    /// Fresh weights for training from scratch, with the distributions of transformers'
    /// CLIPPreTrainedModel._init_weights (models/clip/modeling_clip.py; `factor` = initializer_factor):
    /// embeddings N(0, 0.02·f); q/k/v N(0, D^-½·(2N)^-½·f); out_proj N(0, D^-½·f); fc1 N(0, (2D)^-½·f);
    /// fc2 N(0, D^-½·(2N)^-½·f); biases 0; LayerNorm weight 1, bias 0 (D hidden size, N layers).
    /// The values are drawn from `generator` in parameter order, so they do not equal torch's draws.
    public func initializeParameters(generator: inout PyTorchGenerator, factor: Float = 1) {
        text_model.initializeParameters(generator: &generator, factor: factor)
    }
}

extension CLIPTextModelWithProjection {
    /// As `CLIPTextModel.initializeParameters`, then `text_projection` N(0, D^-½·f) (transformers'
    /// `CLIPTextModelWithProjection` branch of `_init_weights`).
    public func initializeParameters(generator: inout PyTorchGenerator, factor: Float = 1) {
        text_model.initializeParameters(generator: &generator, factor: factor)
        let values = Tensor.randn(text_projection.weight.shape, generator: &generator)
        let std = 1 / Float(configuration.hiddenSize).squareRoot() * factor
        for i in 0..<values.count { text_projection.weight.pointer[i] = values.pointer[i] * std }
    }
}

extension CLIPTextTransformer {
    func initializeParameters(generator: inout PyTorchGenerator, factor: Float) {
        let c = configuration
        let d = Float(c.hiddenSize)
        let n = Float(c.layerCount)
        let inProjStd = 1 / d.squareRoot() / (2 * n).squareRoot() * factor
        func normal(_ t: Tensor, std: Float) {
            let values = Tensor.randn(t.shape, generator: &generator)
            for i in 0..<t.count { t.pointer[i] = values.pointer[i] * std }
        }
        func linear(_ l: Linear, std: Float) {
            normal(l.weight, std: std)
            l.bias?.fill(0)
        }
        func norm(_ l: LayerNorm) {
            l.weight.fill(1)
            l.bias.fill(0)
        }
        let t = self
        normal(t.embeddings.token_embedding.weight, std: 0.02 * factor)
        normal(t.embeddings.position_embedding.weight, std: 0.02 * factor)
        for layer in t.encoder.layers {
            let a = layer.self_attn
            for p in [a.q_proj, a.k_proj, a.v_proj] { linear(p, std: inProjStd) }
            linear(a.out_proj, std: 1 / d.squareRoot() * factor)
            linear(layer.mlp.fc1, std: 1 / (2 * d).squareRoot() * factor)
            linear(layer.mlp.fc2, std: inProjStd)
            norm(layer.layer_norm1)
            norm(layer.layer_norm2)
        }
        norm(t.final_layer_norm)
    }
}
