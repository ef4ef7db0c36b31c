import NeuralNet
import TensorEngine

/// The trainable form of one concept's shift while it is being learned: one zero-initialised factor A
/// per key/value projection (method.md §1: "A_k_l learnable, initialised to zero"), installed as
/// ShiftAdapter terms on the model's projections; or dense deltas for the `full` variant.
public final class TrainableShift {
    public let concept: String
    public let basis: Tensor?
    public let beta: Float
    /// (projection key, trainable tensor): A [d_out, m], or a dense delta [d_out, d_in] when `basis` is nil.
    public let parameters: [(String, Tensor)]
    private var installed: [(ShiftAdapter, Int)] = []

    public init(concept: String, basis: Tensor?, beta: Float, projections: [(String, Linear)]) {
        self.concept = concept
        self.basis = basis
        self.beta = beta
        parameters = projections.map { key, linear in
            let shape = basis.map { [linear.outFeatures, $0.shape[0]] } ?? linear.weight.shape
            return (key, Tensor(zeros: shape, requiresGrad: true))
        }
    }

    public var tensors: [Tensor] { parameters.map(\.1) }

    /// Adds this shift's terms to the projections' adapters (creating adapters where needed).
    public func install(on projections: [(String, Linear)]) {
        let byKey = Dictionary(uniqueKeysWithValues: projections)
        for (key, p) in parameters {
            guard let linear = byKey[key] else { continue }
            let adapter = (linear.adapter as? ShiftAdapter) ?? ShiftAdapter()
            linear.adapter = adapter
            if let basis {
                adapter.terms.append(.init(basis: basis, factor: p, beta: beta))
                installed.append((adapter, adapter.terms.count - 1))
            } else {
                adapter.denseDeltas.append(p)
                installed.append((adapter, adapter.denseDeltas.count - 1))
            }
        }
    }

    /// L1 of every dW_l (key and value of a layer summed), averaged over the M layers (method.md §2).
    // -> []
    public func l1Penalty(layerCount: Int) -> Tensor { TrainableShift.l1Penalty(ofSum: [self], layerCount: layerCount) }

    /// (1/M) Σ_l |Σ_k dW_k,l|₁: the L1 penalty of the joint variant on the summed shift. All shifts
    /// must have been made for the same projections (they are, within one training run).
    public static func l1Penalty(ofSum shifts: [TrainableShift], layerCount: Int) -> Tensor {
        var total: Tensor?
        for i in shifts[0].parameters.indices {
            var sum: Tensor?
            for s in shifts {
                let dw = s.weightDelta(s.parameters[i].1)
                sum = sum.map { $0 + dw } ?? dw
            }
            let l1 = sum!.abs().sum()
            total = total.map { $0 + l1 } ?? l1
        }
        return (total ?? Tensor(scalar: 0)) * (1 / Float(max(layerCount, 1)))
    }

    /// dW for one trainable tensor: β A S (or the dense delta itself). [d_out, d_in]
    func weightDelta(_ p: Tensor) -> Tensor { basis.map { Tensor.matmul(p, $0) * beta } ?? p }

    /// |dW_l|_F, the largest over layers (for the leak bound σ_cut · |dW|).
    func largestShiftNorm() -> Double {
        GradMode.withNoGrad {
            parameters.map { Double(weightDelta($0.1).square().sum().item).squareRoot() }.max() ?? 0
        }
    }
}

/// Turns every ShiftAdapter on the given projections on or off (off = the original model).
public func setShiftAdapters(_ projections: [(String, Linear)], enabled: Bool) {
    for (_, linear) in projections { (linear.adapter as? ShiftAdapter)?.isEnabled = enabled }
}

/// Removes all adapters from the projections.
public func removeShiftAdapters(_ projections: [(String, Linear)]) {
    for (_, linear) in projections { linear.adapter = nil }
}
