import Foundation
import TensorEngine

extension Module {
    /// Fills every weight from N(0, std²) (SplitMix64 + Box–Muller, fast rather than torch-exact),
    /// biases with 0, and normalization layers with weight 1 / bias 0 — a stand-in for benchmarks
    /// (`sepme bench unet`, `vae`, `clip`, `erase-step`), which need no checkpoint.
    public func initializeRandomly(seed: UInt64, standardDeviation: Float = 0.02) {
        var state = SplitMix64(seed: seed)
        var normParameters = Set<ObjectIdentifier>()
        for (_, module) in namedModules() {
            if let norm = module as? GroupNorm {
                norm.weight.fill(1)
                norm.bias.fill(0)
                normParameters.formUnion([ObjectIdentifier(norm.weight), ObjectIdentifier(norm.bias)])
            } else if let norm = module as? LayerNorm {
                norm.weight.fill(1)
                norm.bias.fill(0)
                normParameters.formUnion([ObjectIdentifier(norm.weight), ObjectIdentifier(norm.bias)])
            }
        }
        for (key, p) in namedParameters() where !normParameters.contains(ObjectIdentifier(p)) {
            if key.hasSuffix("bias") {
                p.fill(0)
            } else {
                Self.fillNormal(p.pointer, count: p.count, standardDeviation: standardDeviation, state: &state)
            }
        }
    }

    private static func fillNormal(_ data: UnsafeMutablePointer<Float>, count: Int, standardDeviation: Float, state: inout SplitMix64) {
        var i = 0
        while i < count {
            let bits = state.next()
            // Two 32-bit uniforms in (0, 1] and [0, 1).
            let u1 = (Float(bits >> 40) + 1) / Float(1 << 24)
            let u2 = Float((bits >> 8) & 0xFF_FFFF) / Float(1 << 24)
            let radius = standardDeviation * (-2 * Foundation.log(u1)).squareRoot()
            let angle = 2 * Float.pi * u2
            data[i] = radius * Foundation.cos(angle)
            if i + 1 < count { data[i + 1] = radius * Foundation.sin(angle) }
            i += 2
        }
    }
}
