import NeuralNet
import TensorEngine

/// diffusers `Upsample2D` with `use_conv` (models/upsampling.py): nearest 2× upsampling, then a 3×3 conv.
public final class VAEUpsample: Module {
    let conv: Conv2d

    public init(channels: Int) { conv = Conv2d(channels, channels, kernelSize: 3, padding: 1) }

    // x: [B, C, H, W] -> [B, C, 2H, 2W]
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x.upsampleNearest2x()) }
}

/// diffusers `UpDecoderBlock2D` (models/unets/unet_2d_blocks.py): resnets, then an optional upsampler.
public final class VAEUpDecoderBlock: Module {
    let resnets: [VAEResnetBlock2D]
    let upsamplers: [VAEUpsample]

    public init(inChannels: Int, outChannels: Int, layers: Int, groups: Int, addUpsample: Bool) {
        resnets = (0..<layers).map { i in
            VAEResnetBlock2D(inChannels: i == 0 ? inChannels : outChannels, outChannels: outChannels, groups: groups)
        }
        upsamplers = addUpsample ? [VAEUpsample(channels: outChannels)] : []
    }

    // x: [B, Cin, H, W] -> [B, Cout, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for resnet in resnets { h = resnet(h) }
        for up in upsamplers { h = up(h) }
        return h
    }
}

/// diffusers `Decoder` (models/autoencoders/vae.py) with GroupNorm: latent → image. Blocks run from
/// the widest channel count back to `block_out_channels[0]`, each with `layers_per_block + 1` resnets.
public final class VAEDecoder: Module {
    let conv_in: Conv2d
    let mid_block: VAEMidBlock
    let up_blocks: [VAEUpDecoderBlock]
    let conv_norm_out: GroupNorm
    let conv_out: Conv2d

    public init(_ config: AutoencoderKLConfiguration) {
        let reversed = Array(config.blockOutChannels.reversed())
        let groups = config.normNumGroups
        conv_in = Conv2d(config.latentChannels, reversed[0], kernelSize: 3, padding: 1)
        mid_block = VAEMidBlock(channels: reversed[0], groups: groups, addAttention: config.midBlockAddAttention)
        up_blocks = reversed.indices.map { i in
            VAEUpDecoderBlock(
                inChannels: i == 0 ? reversed[0] : reversed[i - 1], outChannels: reversed[i],
                layers: config.layersPerBlock + 1, groups: groups, addUpsample: i < reversed.count - 1)
        }
        conv_norm_out = GroupNorm(groups: groups, channels: reversed.last!, eps: 1e-6)
        conv_out = Conv2d(reversed.last!, config.outChannels, kernelSize: 3, padding: 1)
    }

    // z: [B, latent, h, w] -> [B, Cout, h·f, w·f]
    public func callAsFunction(_ z: Tensor) -> Tensor {
        var h = mid_block(conv_in(z))
        for block in up_blocks { h = block(h) }
        return conv_out(conv_norm_out(h, silu: true))
    }
}
