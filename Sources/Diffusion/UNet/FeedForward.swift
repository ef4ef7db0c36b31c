import Foundation
import NeuralNet
import TensorEngine

/// diffusers activations.py `GEGLU`: proj to 2·inner, split into (hidden, gate), hidden · gelu(gate)
/// (exact erf GELU).
///
/// The split and product are one fused, differentiable step that keeps only the projection output
/// for the backward pass; the chunk / gelu / multiply composition kept three more [.., inner]
/// tensors alive (about 0.55 GB of a 64×64 SD1 training step).
public final class GEGLU: Module {
    public let proj: Linear

    public init(dim: Int, innerDim: Int) { proj = Linear(dim, innerDim * 2) }

    // x: [..., dim] -> [..., inner]
    public func callAsFunction(_ x: Tensor) -> Tensor { Self.gatedGelu(proj(x)) }

    /// hidden · gelu(gate) for p = [hidden | gate] along the last axis.
    // p: [..., 2·inner] -> [..., inner]
    public static func gatedGelu(_ p: Tensor) -> Tensor {
        let width = p.shape[p.rank - 1]
        precondition(width % 2 == 0, "GEGLU: last dimension \(width) of \(p.shape) is odd")
        let inner = width / 2, rows = p.count / Swift.max(width, 1)
        let out = Tensor(uninitialized: Array(p.shape.dropLast()) + [inner])
        let src = p.pointer, dst = out.pointer
        Parallel.forEachChunk(rows, minChunk: Swift.max(1, 16_384 / Swift.max(inner, 1))) { range in
            for r in range {
                let hidden = src + r * width, gate = hidden + inner, o = dst + r * inner
                for j in 0..<inner { o[j] = hidden[j] * gelu(gate[j]) }
            }
        }
        let saved = p.storage
        return Tensor.record("geglu", inputs: [p], output: out) { g, needs in
            guard needs[0] else { return [nil] }
            let dp = Tensor(uninitialized: p.shape)
            let src = saved.pointer, gp = g.pointer, dpp = dp.pointer
            Parallel.forEachChunk(rows, minChunk: Swift.max(1, 16_384 / Swift.max(inner, 1))) { range in
                for r in range {
                    let hidden = src + r * width, gate = hidden + inner, gr = gp + r * inner
                    let dHidden = dpp + r * width, dGate = dHidden + inner
                    for j in 0..<inner {
                        let x = gate[j]
                        let cdf = 0.5 * (1 + Foundation.erf(x * invSqrt2))
                        dHidden[j] = gr[j] * x * cdf
                        dGate[j] = gr[j] * hidden[j] * (cdf + x * invSqrt2Pi * Foundation.exp(-0.5 * x * x))
                    }
                }
            }
            return [dp]
        }
    }

    private static let invSqrt2: Float = 0.70710678118654752
    private static let invSqrt2Pi: Float = 0.39894228040143268

    @inline(__always)
    private static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * invSqrt2)) }
}

/// diffusers attention.py `FeedForward` with activation "geglu": net = [GEGLU, Dropout, Linear].
public final class FeedForward: Module {
    public let net: [Module]

    public init(dim: Int, mult: Int = 4) {
        net = [GEGLU(dim: dim, innerDim: dim * mult), Identity(), Linear(dim * mult, dim)]
    }

    // x: [..., dim] -> [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let geglu = net[0] as! GEGLU, out = net[2] as! Linear
        return out(geglu(x))
    }
}
