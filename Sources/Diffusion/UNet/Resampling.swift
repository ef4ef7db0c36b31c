import NeuralNet
import TensorEngine

/// diffusers downsampling.py `Downsample2D` with use_conv (3×3, stride 2, padding 1).
public final class Downsample2D: Module {
    public let conv: Conv2d

    public init(channels: Int, padding: Int = 1) {
        conv = Conv2d(channels, channels, kernelSize: 3, stride: 2, padding: padding)
    }

    // x: [B, C, H, W] -> [B, C, ⌈H/2⌉, ⌈W/2⌉]
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}

/// diffusers upsampling.py `Upsample2D` with use_conv: nearest 2× (or nearest to `outputSize`), 3×3 conv.
public final class Upsample2D: Module {
    public let conv: Conv2d

    public init(channels: Int) {
        conv = Conv2d(channels, channels, kernelSize: 3, padding: 1)
    }

    /// `outputSize` (H, W) is the size of the matching skip connection when the input size is not a
    /// multiple of the UNet's overall upsampling factor. It is 2·in or 2·in − 1 per axis, and
    /// torch's nearest interpolation to 2·in − 1 picks source rows ⌊i/2⌋, i.e. the 2× result cropped.
    // x: [B, C, H, W] -> [B, C, 2H, 2W] (or [B, C, outH, outW])
    public func callAsFunction(_ x: Tensor, outputSize: (Int, Int)? = nil) -> Tensor {
        var up = x.upsampleNearest2x()
        if let (h, w) = outputSize {
            precondition(
                h <= up.shape[2] && w <= up.shape[3] && h >= up.shape[2] - 1 && w >= up.shape[3] - 1,
                "Upsample2D: output size \(h)x\(w) is not 2x (or 2x-1) of \(x.shape)")
            if h < up.shape[2] { up = up.sliced(axis: 2, 0..<h) }
            if w < up.shape[3] { up = up.sliced(axis: 3, 0..<w) }
        }
        return conv(up)
    }
}
