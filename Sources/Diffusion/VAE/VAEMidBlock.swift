import NeuralNet
import TensorEngine

/// diffusers `UNetMidBlock2D` of the VAE: resnet, (attention, resnet) × 1.
public final class VAEMidBlock: Module {
    let attentions: [VAEAttentionBlock]
    let resnets: [VAEResnetBlock2D]

    public init(channels: Int, groups: Int, addAttention: Bool) {
        attentions = addAttention ? [VAEAttentionBlock(channels: channels, groups: groups)] : []
        resnets = (0..<2).map { _ in VAEResnetBlock2D(inChannels: channels, outChannels: channels, groups: groups) }
    }

    // x: [B, C, H, W] -> [B, C, H, W]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = resnets[0](x)
        if let attention = attentions.first { h = attention(h) }
        return resnets[1](h)
    }
}
