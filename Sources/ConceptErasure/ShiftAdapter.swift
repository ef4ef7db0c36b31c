import NeuralNet
import TensorEngine

/// The sum of the shifts installed on one projection, added to its output without touching W:
/// y += Σ_k β_k (x S_kᵀ) A_kᵀ + Σ x Dᵀ. Since E(p) S_kᵀ = 0 for every protected prompt p, the term
/// vanishes on them in exact arithmetic. In float32, x S_kᵀ of such a token is rounding noise
/// (≈1e-7 |x|) that would still flip the last bits of the keys; tokens whose projection onto the
/// basis is below `exactZeroTolerance` · |x| are therefore snapped to an exact zero, so protected
/// prompts give bit-identical keys, values and images under any set of shifts.
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

    /// Relative size of x S_kᵀ below which a token counts as lying in the protected span
    /// (float32 rounding is ~1e-7; real concept tokens project with a sizeable fraction of |x|).
    public static let exactZeroTolerance: Float = 1e-4

    public init() {}

    /// 1 for rows of x (tokens) that reach the basis, 0 for rows that lie in its orthogonal
    /// complement up to rounding; nil when every row reaches it. -> [..., 1]
    // x: [..., d], projected: [..., m]
    static func reachMask(_ x: Tensor, projected: Tensor) -> Tensor? {
        let d = x.shape.last ?? 1, m = projected.shape.last ?? 1
        let rows = x.count / max(d, 1)
        let xp = x.pointer, pp = projected.pointer
        var mask = [Float](repeating: 1, count: rows)
        var any = false
        let tol2 = exactZeroTolerance * exactZeroTolerance
        for r in 0..<rows {
            var nx: Float = 0, np: Float = 0
            for j in 0..<d { nx += xp[r * d + j] * xp[r * d + j] }
            for j in 0..<m { np += pp[r * m + j] * pp[r * m + j] }
            if np <= tol2 * nx { mask[r] = 0; any = true }
        }
        return any ? Tensor(mask, shape: Array(x.shape.dropLast()) + [1]) : nil
    }

    // x: [..., d] -> [..., d_out]
    public func delta(_ x: Tensor) -> Tensor? {
        guard isEnabled else { return nil }
        var out: Tensor?
        for t in terms {
            var projected = Tensor.linear(x, weight: t.basis)            // [..., m]
            if let mask = Self.reachMask(x, projected: projected) { projected = projected * mask }
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
