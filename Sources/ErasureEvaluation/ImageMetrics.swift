import Foundation
import ImageIO

/// Per-image comparisons between an edited model's picture and the original model's picture for
/// the same prompt and seed.
public enum ImageMetrics {
    /// Mean |a − b| over all pixels and channels, in units of the full 8-bit range ([0, 1]).
    public static func meanAbsoluteDifference(_ a: RGBImage, _ b: RGBImage) -> Double {
        precondition(a.width == b.width && a.height == b.height, "images of different sizes")
        var total = 0
        for i in a.pixels.indices { total += abs(Int(a.pixels[i]) - Int(b.pixels[i])) }
        return Double(total) / Double(max(1, a.pixels.count)) / 255
    }

    /// Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004, eq. 13) with their standard
    /// settings: 11×11 Gaussian window of σ 1.5, K1 0.01, K2 0.03, L 255, computed per channel over
    /// the valid window positions and averaged (skimage `structural_similarity(..., gaussian_weights=True,
    /// channel_axis=-1)` without its edge padding). Images smaller than the window use a window of
    /// their smaller side. 1 means identical.
    public static func ssim(_ a: RGBImage, _ b: RGBImage) -> Double {
        precondition(a.width == b.width && a.height == b.height, "images of different sizes")
        let w = a.width
        let h = a.height
        let size = min(11, w, h)
        let radius = size / 2
        let sigma = 1.5
        var kernel = (0..<size).map { i -> Double in
            let x = Double(i - radius)
            return exp(-x * x / (2 * sigma * sigma))
        }
        let ksum = kernel.reduce(0, +)
        kernel = kernel.map { $0 / ksum }
        let c1 = (0.01 * 255) * (0.01 * 255)
        let c2 = (0.03 * 255) * (0.03 * 255)
        var total = 0.0
        var count = 0
        for c in 0..<3 {
            for y0 in 0...(h - size) {
                for x0 in 0...(w - size) {
                    var ma = 0.0
                    var mb = 0.0
                    var aa = 0.0
                    var bb = 0.0
                    var ab = 0.0
                    for dy in 0..<size {
                        for dx in 0..<size {
                            let weight = kernel[dy] * kernel[dx]
                            let i = ((y0 + dy) * w + x0 + dx) * 3 + c
                            let va = Double(a.pixels[i])
                            let vb = Double(b.pixels[i])
                            ma += weight * va
                            mb += weight * vb
                            aa += weight * va * va
                            bb += weight * vb * vb
                            ab += weight * va * vb
                        }
                    }
                    let varA = aa - ma * ma
                    let varB = bb - mb * mb
                    let cov = ab - ma * mb
                    total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (varA + varB + c2))
                    count += 1
                }
            }
        }
        return total / Double(count)
    }

    /// Largest |a − b| over all pixels and channels, in 8-bit levels (0 when identical).
    public static func maxAbsoluteLevelDifference(_ a: RGBImage, _ b: RGBImage) -> Int {
        precondition(a.width == b.width && a.height == b.height, "images of different sizes")
        var worst = 0
        for i in a.pixels.indices { worst = max(worst, abs(Int(a.pixels[i]) - Int(b.pixels[i]))) }
        return worst
    }

    /// True when every 8-bit value agrees.
    public static func identical(_ a: RGBImage, _ b: RGBImage) -> Bool { a == b }
}
