import Diffusion
import Foundation
import TensorEngine

/// SepME's training objective for one iteration (method.md §2-3): for K concepts at one timestep,
/// Σ_k η_k Lcor_k + λ · P, where Lcor_k = mean(r_edit ⊙ r_orig) correlates the edited model's
/// concept-specific noise direction with the original model's, and P is the variant's L1 term.
/// The original representations come from the same model with every shift suspended, in one
/// batched gradient-free call that shares the UNet's text-free start with the edited call.
public struct SepMEObjective {
    public struct Value {
        /// The loss, with gradient history into the trainable weights. []
        public let loss: Tensor
        /// Lcor_k per concept.
        public let correlations: [Double]
        /// Each concept's own (1/M) Σ_l |dW_l|₁.
        public let penalties: [Double]
    }

    public let model: ShiftSet
    public let variant: ErasureVariant
    public let lambda: Double
    let strategy: SepMEVariantStrategy

    public init(model: ShiftSet, variant: ErasureVariant, lambda: Double) {
        self.model = model
        self.variant = variant
        self.lambda = lambda
        strategy = variant.strategy
    }

    /// The objective for concepts whose trainable weights (`weights`, acting on the model through
    /// `ShiftSet.withTrainingWeights`) are being learned.
    // xt: [K, C, h, w], conds: [K, L, d], blank: [1, L, d]
    public func callAsFunction(xt: Tensor, timestep t: Int, conds: Tensor, blank: Tensor, weights: [ShiftWeights]) -> Value {
        let unet = model.pipeline.unet
        // The UNet's start before its first cross-attention reads no text and no shift: computed
        // once for the three evaluations of x_t (original c, original c0, edited c).
        let start = unet.textFreeStart(xt, timesteps: [Float(t)])
        let (rOrig, blankEps) = originalPredictions(start: start, conds: conds, blank: blank)
        let rEdit = strategy.editedRepresentation(unet: unet, start: start, conds: conds, blank: blank, originalBlankEps: blankEps)
        let lcor = Self.correlation(rEdit, rOrig)
        let values = lcor.scalars.map(Double.init)
        let keys = weights.first?.projectionKeys(inModelOrder: model.projections) ?? []
        let layers = model.projections.layers.count
        let own = weights.map { Self.l1Penalty(ofSum: [$0], keys: keys, layerCount: layers) }
        let penalty = strategy.penalty(own: own, weights: weights, keys: keys, layerCount: layers)
        let loss = strategy.combinedCorrelation(lcor, values: values) + penalty * Float(lambda)
        return Value(loss: loss, correlations: values, penalties: GradMode.withNoGrad { own.map { Double($0.item) } })
    }

    /// r_c(x_t; θ) and ε(x_t, c0; θ) for K concepts in one batched, gradient-free call with every
    /// shift suspended, continuing from the text-free start of x_t.
    // start: of xt [K, C, h, w]; conds: [K, L, d] -> ([K, C, h, w], [K, C, h, w])
    func originalPredictions(start: UNet2DConditionModel.TextFreeStart, conds: Tensor, blank: Tensor) -> (r: Tensor, blankEps: Tensor) {
        let k = start.batch
        return model.withShiftsSuspended {
            GradMode.withNoGrad {
                let blanks = Tensor.concat([Tensor](repeating: blank, count: k), axis: 0)
                let eps = model.pipeline.unet(continuing: start, encoderHiddenStates: Tensor.concat([conds, blanks], axis: 0))
                let halves = eps.chunked(2, axis: 0)
                return (halves[0] - halves[1], halves[1])
            }
        }
    }

    /// Lcor for each batch item: mean(r_edit ⊙ r_orig) over channels × h × w (method.md §2).
    // rEdit, rOrig: [K, C, h, w] -> [K]
    static func correlation(_ rEdit: Tensor, _ rOrig: Tensor) -> Tensor {
        let k = rEdit.shape[0]
        return (rEdit * rOrig).reshaped([k, -1]).mean(axes: [1])
    }

    /// (1/M) Σ_l |Σ_k dW_k,l|₁ over the projections `keys` (method.md §2, L1 term), M the number of
    /// cross-attention layers. Every weight set must edit the same projections. -> []
    public static func l1Penalty(ofSum weights: [ShiftWeights], keys: [String], layerCount: Int) -> Tensor {
        var total: Tensor?
        for key in keys {
            var sum: Tensor?
            for w in weights { if let dw = w.weightDelta(for: key) { sum = sum.map { $0 + dw } ?? dw } }
            guard let sum else { continue }
            let l1 = sum.abs().sum()
            total = total.map { $0 + l1 } ?? l1
        }
        return (total ?? Tensor(scalar: 0)) * (1 / Float(max(layerCount, 1)))
    }

    /// Per-iteration randomness: timestep and noise from a generator seeded by (seed, concepts,
    /// iteration), so a resumed run continues exactly where it stopped.
    static func iterationDraws(seed: UInt64, concepts: String, iteration: Int, trainTimesteps: Int, shape: [Int]) -> (timestep: Int, noise: Tensor) {
        var h: UInt64 = 1469598103934665603  // FNV-1a offset basis
        for b in concepts.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        var g = PyTorchGenerator(seed: (seed &+ h &+ UInt64(iteration) &* 0x9E37_79B9) & 0xFFFF_FFFF)
        let t = Int((try? g.randint(low: 0, high: Int64(trainTimesteps), count: 1))?.first ?? 0)
        return (t, Tensor.randn(shape, generator: &g))
    }
}

extension ShiftWeights {
    /// This shift's projection keys in the model's order (layer by layer, q/k/v/out).
    func projectionKeys(inModelOrder projections: CrossAttentionProjections) -> [String] {
        let mine = Set(projectionKeys)
        return projections.allProjections.map(\.0).filter { mine.contains($0) }
    }
}
