import ImageIO
import TensorEngine

/// Between [-1, 1] pixel tensors and 8-bit images, as diffusers' VaeImageProcessor does it:
/// (x / 2 + 0.5).clamp(0, 1), then (x * 255).round() (half to even, numpy).
/// Total on every float: NaN becomes 0 and ±infinity clamps like any out-of-range value, so a bad
/// pixel never traps here (the pipeline reports non-finite latents before they get this far).
public enum ImageTensorConversion {
    // pixels: [B, 3, H, W] -> B images
    public static func images(fromPixels pixels: Tensor) -> [RGBImage] {
        precondition(
            pixels.rank == 4 && (pixels.shape[1] == 3 || pixels.shape[1] == 1),
            "expected [B, 3, H, W] pixels, got \(pixels.shape)")
        let b = pixels.shape[0]
        let c = pixels.shape[1]
        let h = pixels.shape[2]
        let w = pixels.shape[3]
        let p = pixels.pointer
        return (0..<b).map { n in
            var img = RGBImage(width: w, height: h)
            for ch in 0..<3 {
                let plane = p + (n * c + min(ch, c - 1)) * h * w
                for i in 0..<(h * w) { img.pixels[i * 3 + ch] = byte(fromPixel: plane[i]) }
            }
            return img
        }
    }

    /// One [-1, 1] value as an 8-bit sample: clamped to 0...255, NaN → 0.
    public static func byte(fromPixel value: Float) -> UInt8 {
        let unit = value / 2 + 0.5
        guard unit > 0 else { return 0 }  // also NaN
        guard unit < 1 else { return 255 }
        return UInt8((unit * 255).rounded(.toNearestOrEven))
    }

    /// 8-bit images → [B, 3, H, W] in [-1, 1] (VaeImageProcessor.preprocess: x / 255 * 2 - 1).
    public static func pixels(fromImages images: [RGBImage]) -> Tensor {
        precondition(!images.isEmpty, "no images")
        let h = images[0].height
        let w = images[0].width
        let out = Tensor(uninitialized: [images.count, 3, h, w])
        for (n, img) in images.enumerated() {
            precondition(img.width == w && img.height == h, "images of different sizes in one batch")
            for ch in 0..<3 {
                let plane = out.pointer + (n * 3 + ch) * h * w
                for i in 0..<(h * w) { plane[i] = Float(img.pixels[i * 3 + ch]) / 255 * 2 - 1 }
            }
        }
        return out
    }
}
