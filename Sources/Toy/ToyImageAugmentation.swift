import TensorEngine

/// Degradations that imitate a small diffusion model's samples (residual noise, soft edges,
/// slightly off tones), applied to the classifier's training pictures so that it scores generated
/// images as it scores clean ones. Each picture gets, independently: Gaussian noise with σ uniform
/// in [0, 0.2] (images in [-1, 1]) with probability 1/2; a 3×3 binomial blur blended in with weight
/// uniform in [0, 1] with probability 1/2; brightness ±0.1 and contrast ×[0.85, 1.15] with
/// probability 1/2. A quarter of the pictures stay clean on average (no degradation drawn).
public enum ToyImageAugmentation {
    // images: [B, 3, H, W] in [-1, 1] -> same shape
    public static func augment(_ images: Tensor, seed: UInt64) -> Tensor {
        let b = images.shape[0], h = images.shape[2], w = images.shape[3], plane = h * w
        let out = images.copy()
        let p = out.pointer
        var rng = SplitMix64(seed: seed, index: 0xA06)
        var normal = PyTorchGenerator(seed: seed & 0xFFFF_FFFF)
        var blurred = [Float](repeating: 0, count: plane)
        for n in 0..<b {
            let base = p + n * 3 * plane
            if rng.chance(1, in: 2) {
                let weight = Float(rng.int(below: 1001)) / 1000
                for c in 0..<3 {
                    let ch = base + c * plane
                    for y in 0..<h {
                        for x in 0..<w {
                            var acc: Float = 0, total: Float = 0
                            for dy in -1...1 {
                                for dx in -1...1 {
                                    let yy = y + dy, xx = x + dx
                                    guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                                    let k: Float = (dy == 0 ? 2 : 1) * (dx == 0 ? 2 : 1)
                                    acc += k * ch[yy * w + xx]; total += k
                                }
                            }
                            blurred[y * w + x] = acc / total
                        }
                    }
                    for i in 0..<plane { ch[i] = (1 - weight) * ch[i] + weight * blurred[i] }
                }
            }
            if rng.chance(1, in: 2) {
                let shift = Float(rng.int(in: -100...100)) / 1000, gain = Float(rng.int(in: 850...1150)) / 1000
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
}
