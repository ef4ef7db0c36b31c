import NeuralNet
import TensorEngine

/// The sum of the shifts installed on one projection, added to its output without touching W:
/// y += Σ_k β_k (x S_kᵀ) A_kᵀ + Σ (x Dᵀ + Δb). Since E(p) S_kᵀ = 0 for every protected prompt p, the term
/// vanishes on them in exact arithmetic. In float32, x S_kᵀ of such a token is rounding noise
/// (of order ε_float32·|x|) that would still flip the last bits of the keys; tokens whose projection onto the
/// basis is at most a threshold · |x| are therefore snapped to an exact zero, so protected prompts
/// give bit-identical keys, values and images under any set of shifts. The threshold is
/// `exactZeroTolerance` for an exact null space; in tolerance mode, where protected rows keep a
/// share up to ℓ_k inside the basis (method.md §4), it sits just above ℓ_k (`reachThreshold`), so
/// the guarantee is exact on this path too.
public final class ShiftAdapter: LinearAdapter {
    /// One shift's term on this projection.
    public enum Term {
        /// β (x Sᵀ) Aᵀ with S: [m, d], A: [d_out, m], on the rows whose share inside S exceeds
        /// `reachThreshold`.
        case factorised(basis: Tensor, factor: Tensor, beta: Float, reachThreshold: Float = ShiftAdapter.exactZeroTolerance)
        /// x ΔWᵀ + Δb with ΔW: [d_out, d_in], Δb: [d_out] (nil: no bias change).
        case dense(weight: Tensor, bias: Tensor?)
    }

    public internal(set) var terms: [Term]
    /// False while the original model's predictions are taken during training (`ShiftSet`).
    public internal(set) var isEnabled = true

    public init(terms: [Term] = []) { self.terms = terms }

    /// Relative size of x S_kᵀ below which a token counts as lying in the protected span
    /// (float32 rounding is of order ε_float32; real concept tokens project with a sizeable fraction of |x|).
    public static let exactZeroTolerance: Float = 1e-4

    /// The reach mask's threshold for a shift whose null space leaves every protected row at most a
    /// share `relativeLeak` (ℓ_k) inside the basis: `exactZeroTolerance`, or just above ℓ_k (1 % and
    /// 1e-5 over it, for the float32 rounding of the stored basis and of the projection) when that
    /// is larger. Nil (files written before ℓ_k was recorded): `exactZeroTolerance`.
    public static func reachThreshold(relativeLeak: Double?) -> Float {
        guard let leak = relativeLeak, leak.isFinite else { return exactZeroTolerance }
        return max(exactZeroTolerance, Float(min(1, leak * 1.01 + 1e-5)))
    }

    /// 1 for rows of x (tokens) that reach the basis, 0 for rows that lie in its orthogonal
    /// complement up to rounding; nil when every row reaches it. -> [..., 1]
    // x: [..., d], projected: [..., m]
    static func reachMask(_ x: Tensor, projected: Tensor, threshold: Float = exactZeroTolerance) -> Tensor? {
        let d = x.shape.last ?? 1
        let m = projected.shape.last ?? 1
        let rows = x.count / max(d, 1)
        let xp = x.pointer
        let pp = projected.pointer
        var mask = [Float](repeating: 1, count: rows)
        var any = false
        let tol2 = threshold * threshold
        for r in 0..<rows {
            var nx: Float = 0
            var np: Float = 0
            for j in 0..<d { nx += xp[r * d + j] * xp[r * d + j] }
            for j in 0..<m { np += pp[r * m + j] * pp[r * m + j] }
            if np <= tol2 * nx {
                mask[r] = 0
                any = true
            }
        }
        return any ? Tensor(mask, shape: Array(x.shape.dropLast()) + [1]) : nil
    }

    /// Always in fp32, also inside a bf16 scope (`PrecisionMode`): the reach mask needs fp32 projections.
    // x: [..., d] -> [..., d_out]
    public func delta(_ x: Tensor) -> Tensor? {
        guard isEnabled else { return nil }
        return PrecisionMode.withFP32 { terms.isEmpty ? nil : sum(x) }
    }

    // x: [..., d] -> [..., d_out]
    private func sum(_ x: Tensor) -> Tensor? {
        var out: Tensor?
        for term in terms {
            let y: Tensor
            switch term {
            case .factorised(let basis, let factor, let beta, let reach):
                var projected = Tensor.linear(x, weight: basis)  // [..., m]
                if let mask = Self.reachMask(x, projected: projected, threshold: reach) { projected = projected * mask }
                y = Tensor.linear(projected, weight: factor) * beta  // [..., d_out]
            case .dense(let delta, let bias):
                y = Tensor.linear(x, weight: delta, bias: bias)  // [..., d_out]
            }
            out = out.map { $0 + y } ?? y
        }
        return out
    }
}
