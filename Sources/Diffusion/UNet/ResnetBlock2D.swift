import NeuralNet
import TensorEngine

/// diffusers resnet.py `ResnetBlock2D` with time_embedding_norm "default", SiLU, pre-norm:
/// out = (shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb)))))) / scale.
public final class ResnetBlock2D: Module {
    public let norm1: GroupNorm
    public let conv1: Conv2d
    public let time_emb_proj: Linear
    public let norm2: GroupNorm
    public let conv2: Conv2d
    /// 1×1 projection when input and output widths differ.
    public let conv_shortcut: Conv2d?
    public let outputScaleFactor: Float

    public init(inChannels: Int, outChannels: Int, timeEmbedDim: Int, groups: Int, eps: Float, outputScaleFactor: Float = 1) {
        norm1 = GroupNorm(groups: groups, channels: inChannels, eps: eps)
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1)
        time_emb_proj = Linear(timeEmbedDim, outChannels)
        norm2 = GroupNorm(groups: groups, channels: outChannels, eps: eps)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1)
        conv_shortcut = inChannels == outChannels ? nil : Conv2d(inChannels, outChannels, kernelSize: 1)
        self.outputScaleFactor = outputScaleFactor
    }

    // x: [B, Cin, H, W], temb: [B, T] -> [B, Cout, H, W]
    public func callAsFunction(_ x: Tensor, temb: Tensor) -> Tensor {
        var h = conv1(norm1(x, silu: true))  // [B, Cout, H, W]
        let t = time_emb_proj(temb.silu())  // [B, Cout]
        h = h + t.reshaped([t.shape[0], t.shape[1], 1, 1])
        h = conv2(norm2(h, silu: true))  // dropout: identity in eval
        let shortcut = conv_shortcut.map { $0(x) } ?? x
        let out = shortcut + h
        return outputScaleFactor == 1 ? out : out / outputScaleFactor
    }
}
