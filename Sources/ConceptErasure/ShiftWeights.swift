import NeuralNet
import TensorEngine

/// The weight change one erased concept makes, per edited projection, in one of two forms:
///
/// - `factorised`: SepME's dW_l = β A_l S (method.md §1, Eq. "shift"): one orthonormal basis S
///   [m, d] of the concept's null space, shared by every projection, and a factor A_l [d_out, m]
///   per projection. Decoupled by construction: dW_l E(p)ᵀ = 0 for every protected prompt p.
///   `reachThreshold` is the reach mask's threshold on the adapter path (`ShiftAdapter`): the
///   token rows whose share inside the basis is at most this get no shift.
/// - `dense`: a full ΔW_l [d_out, d_in] per projection (SepME's `full` variant; the baseline
///   methods, which have no factorised form), and optionally a bias change Δb_l [d_out] for
///   projections that have a bias (the `full` variant trains the output projection's bias).
///
/// Projection keys are module paths in diffusers order without the `.weight` suffix, e.g.
/// `down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k`.
public enum ShiftWeights {
    case factorised(beta: Float, basis: Tensor, factors: [String: Tensor], reachThreshold: Float = ShiftAdapter.exactZeroTolerance)
    case dense(deltas: [String: Tensor], biases: [String: Tensor])

    /// Every projection this shift edits, sorted.
    public var projectionKeys: [String] {
        switch self {
        case .factorised(_, _, let factors, _): return factors.keys.sorted()
        case .dense(let deltas, _): return deltas.keys.sorted()
        }
    }

    /// The tensors an optimiser trains (A factors, or the dense deltas then the bias changes), each
    /// with a name unique within this shift (`<projection>` or `<projection>.bias`), in key order.
    public var namedTrainableTensors: [(name: String, tensor: Tensor)] {
        func sorted(_ d: [String: Tensor], suffix: String = "") -> [(name: String, tensor: Tensor)] {
            d.sorted { $0.key < $1.key }.map { (name: $0.key + suffix, tensor: $0.value) }
        }
        switch self {
        case .factorised(_, _, let factors, _): return sorted(factors)
        case .dense(let deltas, let biases): return sorted(deltas) + sorted(biases, suffix: ".bias")
        }
    }

    /// The tensors an optimiser trains, in the order of `namedTrainableTensors`.
    public var trainableTensors: [Tensor] { namedTrainableTensors.map(\.tensor) }

    /// Number of tensors the shift changes: the M of the L1 term (method.md §2).
    public var changedTensorCount: Int { namedTrainableTensors.count }

    /// dW for one projection, with gradient history when the factors require gradients. [d_out, d_in]
    public func weightDelta(for key: String) -> Tensor? {
        switch self {
        case .factorised(let beta, let basis, let factors, _):
            return factors[key].map { Tensor.matmul($0, basis) * beta }
        case .dense(let deltas, _):
            return deltas[key]
        }
    }

    /// The text width d the key and value projections' changes take as input: the basis's columns,
    /// or the columns of a dense key or value delta (nil for a dense shift without one; the `full`
    /// variant's query and output deltas take the attention's own width).
    public var inputWidth: Int? {
        switch self {
        case .factorised(_, let basis, _, _): return basis.shape[1]
        case .dense(let deltas, _):
            let keyValue = deltas.filter { $0.key.hasSuffix(".to_k") || $0.key.hasSuffix(".to_v") }
            return keyValue.min { $0.key < $1.key }?.value.shape[1]
        }
    }

    /// Δb for one projection (dense shifts only). [d_out]
    public func biasDelta(for key: String) -> Tensor? {
        if case .dense(_, let biases) = self { return biases[key] }
        return nil
    }

    /// Every changed tensor (dW per projection, then Δb), with gradient history. For the L1 term.
    public var changedTensors: [Tensor] {
        switch self {
        case .factorised: return projectionKeys.compactMap { weightDelta(for: $0) }
        case .dense: return trainableTensors
        }
    }

    /// Zero-initialised trainable weights for `projections` (method.md §2: "A initialised to zero"):
    /// factorised over `basis` [m, d] when given, dense otherwise; dense shifts also change the bias
    /// of every projection that has one when `biases` is set (the `full` variant, method.md §3).
    /// `reachThreshold`: the reach mask's (`ShiftAdapter.reachThreshold(relativeLeak:)`).
    public static func trainable(
        projections: [(String, Linear)], basis: Tensor?, beta: Float, biases: Bool = false,
        reachThreshold: Float = ShiftAdapter.exactZeroTolerance
    ) -> ShiftWeights {
        var tensors: [String: Tensor] = [:]
        var biasTensors: [String: Tensor] = [:]
        for (key, linear) in projections {
            let shape = basis.map { [linear.outFeatures, $0.shape[0]] } ?? linear.weight.shape
            tensors[key] = Tensor(zeros: shape, requiresGrad: true)
            if basis == nil, biases, let b = linear.bias { biasTensors[key] = Tensor(zeros: b.shape, requiresGrad: true) }
        }
        if let basis { return .factorised(beta: beta, basis: basis, factors: tensors, reachThreshold: reachThreshold) }
        return .dense(deltas: tensors, biases: biasTensors)
    }

    /// A detached copy (for writing a trained shift while its trainable tensors live on).
    public func detachedCopy() -> ShiftWeights {
        func copy(_ d: [String: Tensor]) -> [String: Tensor] { d.mapValues { $0.detached().copy() } }
        switch self {
        case .factorised(let beta, let basis, let factors, let reach):
            return .factorised(beta: beta, basis: basis, factors: copy(factors), reachThreshold: reach)
        case .dense(let deltas, let biases): return .dense(deltas: copy(deltas), biases: copy(biases))
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
