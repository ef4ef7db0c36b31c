import NeuralNet
import TensorEngine

/// diffusers `ResnetBlock2D` (models/resnet.py) as the VAE uses it: no time embedding, SiLU,
/// GroupNorm eps 1e-6, output scale 1, and a 1×1 `conv_shortcut` when the channel count changes.
public final class VAEResnetBlock2D: Module {
    let norm1: GroupNorm
    let conv1: Conv2d
    let norm2: GroupNorm
    let conv2: Conv2d
    let conv_shortcut: Conv2d?

    public init(inChannels: Int, outChannels: Int, groups: Int, eps: Float = 1e-6) {
        norm1 = GroupNorm(groups: groups, channels: inChannels, eps: eps)
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1)
        norm2 = GroupNorm(groups: groups, channels: outChannels, eps: eps)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1)
        conv_shortcut = inChannels == outChannels ? nil : Conv2d(inChannels, outChannels, kernelSize: 1)
    }

    // x: [B, Cin, H, W] -> [B, Cout, H, W]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(norm1(x, silu: true))
        h = conv2(norm2(h, silu: true))  // dropout is the identity at inference
        let residual = conv_shortcut.map { $0(x) } ?? x
        return residual + h
    }
}
