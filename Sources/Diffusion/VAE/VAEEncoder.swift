import NeuralNet
import TensorEngine

/// diffusers `Downsample2D` with `padding=0` (models/downsampling.py): zero-pad one row at the bottom
/// and one column at the right (F.pad (0, 1, 0, 1)), then a stride-2 3×3 convolution without padding.
public final class VAEDownsample: Module {
    let conv: Conv2d

    public init(channels: Int) { conv = Conv2d(channels, channels, kernelSize: 3, stride: 2) }

    // x: [B, C, H, W] -> [B, C, ⌊(H − 2) / 2⌋ + 1, ⌊(W − 2) / 2⌋ + 1]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv(x.padded(left: 0, right: 1, top: 0, bottom: 1))
    }
}

/// diffusers `DownEncoderBlock2D` (models/unets/unet_2d_blocks.py): resnets, then an optional downsampler.
public final class VAEDownEncoderBlock: Module {
    let resnets: [VAEResnetBlock2D]
    let downsamplers: [VAEDownsample]

    public init(inChannels: Int, outChannels: Int, layers: Int, groups: Int, addDownsample: Bool) {
        resnets = (0..<layers).map { i in
            VAEResnetBlock2D(inChannels: i == 0 ? inChannels : outChannels, outChannels: outChannels, groups: groups)
        }
        downsamplers = addDownsample ? [VAEDownsample(channels: outChannels)] : []
    }

    // x: [B, Cin, H, W] -> [B, Cout, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for resnet in resnets { h = resnet(h) }
        for down in downsamplers { h = down(h) }
        return h
    }
}

/// diffusers `Encoder` (models/autoencoders/vae.py) with `double_z`: image → mean and log-variance
/// stacked along channels.
public final class VAEEncoder: Module {
    let conv_in: Conv2d
    let down_blocks: [VAEDownEncoderBlock]
    let mid_block: VAEMidBlock
    let conv_norm_out: GroupNorm
    let conv_out: Conv2d

    public init(_ config: AutoencoderKLConfiguration) {
        let channels = config.blockOutChannels
        let groups = config.normNumGroups
        conv_in = Conv2d(config.inChannels, channels[0], kernelSize: 3, padding: 1)
        down_blocks = channels.indices.map { i in
            VAEDownEncoderBlock(
                inChannels: i == 0 ? channels[0] : channels[i - 1], outChannels: channels[i],
                layers: config.layersPerBlock, groups: groups, addDownsample: i < channels.count - 1)
        }
        mid_block = VAEMidBlock(channels: channels.last!, groups: groups, addAttention: config.midBlockAddAttention)
        conv_norm_out = GroupNorm(groups: groups, channels: channels.last!, eps: 1e-6)
        conv_out = Conv2d(channels.last!, 2 * config.latentChannels, kernelSize: 3, padding: 1)
    }

    // x: [B, Cin, H, W] -> [B, 2·latent, H / f, W / f]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv_in(x)
        for block in down_blocks { h = block(h) }
        h = mid_block(h)
        return conv_out(conv_norm_out(h, silu: true))
    }
}
