import NeuralNet
import TensorEngine

/// The sum of the shifts installed on one projection, added to its output without touching W:
/// y += Σ_k β_k (x S_kᵀ) A_kᵀ + Σ x Dᵀ. Since E(p) S_kᵀ = 0 for every protected prompt p, the term
/// vanishes on them exactly (up to float rounding).
public final class ShiftAdapter: LinearAdapter {
    public struct Term {
        public let basis: Tensor     // S: [m, d]
        public let factor: Tensor    // A: [d_out, m]
        public let beta: Float

        public init(basis: Tensor, factor: Tensor, beta: Float) {
            self.basis = basis
            self.factor = factor
            self.beta = beta
        }
    }

    public var terms: [Term] = []
    public var denseDeltas: [Tensor] = []
    /// When false the projection behaves like the base model (used for the original model's predictions).
    public var isEnabled = true

    public init() {}

    // x: [..., d] -> [..., d_out]
    public func delta(_ x: Tensor) -> Tensor? {
        guard isEnabled else { return nil }
        var out: Tensor?
        for t in terms {
            let projected = Tensor.linear(x, weight: t.basis)            // [..., m]
            let d = Tensor.linear(projected, weight: t.factor) * t.beta  // [..., d_out]
            out = out.map { $0 + d } ?? d
        }
        for d in denseDeltas {
            let y = Tensor.linear(x, weight: d)
            out = out.map { $0 + y } ?? y
        }
        return out
    }
}
