import NeuralNet
import TensorEngine

/// The weight change one erased concept makes, per edited projection, in one of two forms:
///
/// - `factorised`: SepME's dW_l = β A_l S (method.md §1, Eq. "shift"): one orthonormal basis S
///   [m, d] of the concept's null space, shared by every projection, and a factor A_l [d_out, m]
///   per projection. Decoupled by construction: dW_l E(p)ᵀ = 0 for every protected prompt p.
/// - `dense`: a full ΔW_l [d_out, d_in] per projection (SepME's `full` variant; the baseline
///   methods, which have no factorised form).
///
/// Projection keys are module paths in diffusers order without the `.weight` suffix, e.g.
/// `down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k`.
public enum ShiftWeights {
    case factorised(beta: Float, basis: Tensor, factors: [String: Tensor])
    case dense([String: Tensor])

    /// Every projection this shift edits, sorted.
    public var projectionKeys: [String] {
        switch self {
        case .factorised(_, _, let factors): return factors.keys.sorted()
        case .dense(let deltas): return deltas.keys.sorted()
        }
    }

    /// The tensors an optimiser trains (A factors, or the dense deltas), in projection-key order.
    public var trainableTensors: [Tensor] {
        switch self {
        case .factorised(_, _, let factors): return factors.sorted { $0.key < $1.key }.map(\.value)
        case .dense(let deltas): return deltas.sorted { $0.key < $1.key }.map(\.value)
        }
    }

    /// dW for one projection, with gradient history when the factors require gradients. [d_out, d_in]
    public func weightDelta(for key: String) -> Tensor? {
        switch self {
        case .factorised(let beta, let basis, let factors):
            return factors[key].map { Tensor.matmul($0, basis) * beta }
        case .dense(let deltas):
            return deltas[key]
        }
    }

    /// Zero-initialised trainable weights for `projections` (method.md §2: "A initialised to zero"):
    /// factorised over `basis` [m, d] when given, dense otherwise.
    public static func trainable(projections: [(String, Linear)], basis: Tensor?, beta: Float) -> ShiftWeights {
        var tensors: [String: Tensor] = [:]
        for (key, linear) in projections {
            let shape = basis.map { [linear.outFeatures, $0.shape[0]] } ?? linear.weight.shape
            tensors[key] = Tensor(zeros: shape, requiresGrad: true)
        }
        if let basis { return .factorised(beta: beta, basis: basis, factors: tensors) }
        return .dense(tensors)
    }

    /// A detached copy (for writing a trained shift while its trainable tensors live on).
    public func detachedCopy() -> ShiftWeights {
        func copy(_ d: [String: Tensor]) -> [String: Tensor] { d.mapValues { $0.detached().copy() } }
        switch self {
        case .factorised(let beta, let basis, let factors): return .factorised(beta: beta, basis: basis, factors: copy(factors))
        case .dense(let deltas): return .dense(copy(deltas))
        }
    }

    /// |dW_l|_F, the largest over projections (for the leak bound σ_cut · |dW|, method.md §4).
    public func largestDeltaNorm() -> Double {
        GradMode.withNoGrad {
            projectionKeys.compactMap { weightDelta(for: $0) }
                .map { Double($0.square().sum().item).squareRoot() }.max() ?? 0
        }
    }
}
