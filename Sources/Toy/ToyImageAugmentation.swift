import TensorEngine

/// Degradations that imitate a small diffusion model's samples (residual noise, soft edges,
/// slightly off tones) and the freedoms a model takes (a pattern's phase along x independent of its
/// phase along y), applied to the classifier's training pictures so that it scores generated
/// images as it scores clean ones. Each picture gets, independently: a translation by (dx, dy)
/// uniform in [-2, 2]² (borders replicated) with probability 3/4; Gaussian noise with σ uniform
/// in [0, 0.2] (images in [-1, 1]) with probability 1/2; a 3×3 binomial blur blended in with weight
/// uniform in [0, 1] with probability 1/2; brightness ±0.1 and contrast ×[0.85, 1.15] with
/// probability 1/2. The data set draws one phase for both axes of its stripes and dots; the model's
/// samples also put dots at other (x, y) phases, which a classifier that never saw them reads as
/// stripes, so the translation decouples the two phases.
public enum ToyImageAugmentation {
    // images: [B, 3, H, W] in [-1, 1] -> same shape
    public static func augment(_ images: Tensor, seed: UInt64) -> Tensor {
        let b = images.shape[0]
        let h = images.shape[2]
        let w = images.shape[3]
        let plane = h * w
        let out = images.copy()
        let p = out.pointer
        var rng = SplitMix64(seed: seed, index: 0xA06)
        var normal = PyTorchGenerator(seed: seed & 0xFFFF_FFFF)
        var scratch = [Float](repeating: 0, count: plane)
        for n in 0..<b {
            let base = p + n * 3 * plane
            if rng.int(below: 4) != 0 {
                translate(base, height: h, width: w, dx: rng.int(in: -2...2), dy: rng.int(in: -2...2), scratch: &scratch)
            }
            if rng.chance(1, in: 2) {
                let weight = Float(rng.int(below: 1001)) / 1000
                for c in 0..<3 {
                    let ch = base + c * plane
                    for y in 0..<h {
                        for x in 0..<w {
                            var acc: Float = 0
                            var total: Float = 0
                            for dy in -1...1 {
                                for dx in -1...1 {
                                    let yy = y + dy
                                    let xx = x + dx
                                    guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                                    let k: Float = (dy == 0 ? 2 : 1) * (dx == 0 ? 2 : 1)
                                    acc += k * ch[yy * w + xx]
                                    total += k
                                }
                            }
                            scratch[y * w + x] = acc / total
                        }
                    }
                    for i in 0..<plane { ch[i] = (1 - weight) * ch[i] + weight * scratch[i] }
                }
            }
            if rng.chance(1, in: 2) {
                let shift = Float(rng.int(in: -100...100)) / 1000
                let gain = Float(rng.int(in: 850...1150)) / 1000
                for i in 0..<(3 * plane) { base[i] = base[i] * gain + shift }
            }
            if rng.chance(1, in: 2) {
                let sigma = Float(rng.int(below: 201)) / 1000
                let noise = normal.randn(count: 3 * plane)
                for i in 0..<(3 * plane) { base[i] += sigma * noise[i] }
            }
        }
        return out
    }

    /// Moves the 3 planes at `image` by (dx, dy) pixels (content moves right / down for positive
    /// values); pixels shifted in from outside repeat the nearest border pixel.
    // image: [3, H, W] in place
    static func translate(
        _ image: UnsafeMutablePointer<Float>, height h: Int, width w: Int, dx: Int, dy: Int,
        scratch: inout [Float]
    ) {
        guard dx != 0 || dy != 0 else { return }
        let plane = h * w
        for c in 0..<3 {
            let ch = image + c * plane
            for i in 0..<plane { scratch[i] = ch[i] }
            for y in 0..<h {
                let sy = min(h - 1, max(0, y - dy))
                for x in 0..<w { ch[y * w + x] = scratch[sy * w + min(w - 1, max(0, x - dx))] }
            }
        }
    }
}
