import Diffusion
import Foundation
import TensorEngine

/// SepME's training objective for one iteration (method.md §2-3; paper Eq. 35): for the K concepts
/// of a group at one timestep, Σ_k η_k Lcor_k + λ · P(Σ_k dW_k), where Lcor_k = mean(r_edit ⊙ r_orig)
/// correlates the edited model's concept-specific noise direction with the original model's,
/// η_k = max_j |Lcor_j| / |Lcor_k| balances the concepts (1 for a single concept), and P is the L1
/// term averaged over the changed tensors. The value the stop rule is fed is the weighted sum of
/// the correlations alone (paper Eq. 37): the penalty drives the gradient, not the stopping.
/// The original representations come from the same model with every shift suspended, in one
/// batched gradient-free call that shares the UNet's text-free start with the edited call. On SDXL
/// each evaluation carries its own pooled embedding (the concept's for both concept evaluations,
/// the unconditional one's for c0) into the timestep embedding after that start.
/// `conds` and `blank` are `PromptConditioning`s of any family (`PromptConditionedPipeline`).
public struct SepMEObjective {
    public struct Value {
        /// The loss, with gradient history into the trainable weights. []
        public let loss: Tensor
        /// Lcor_k per concept.
        public let correlations: [Double]
        /// η_k per concept (no gradient).
        public let weights: [Double]
        /// Σ_k η_k Lcor_k: what the group's stop statistic is fed.
        public let weightedCorrelation: Double
        /// P(Σ_k dW_k), the L1 term before λ.
        public let penalty: Double
    }

    public let model: ShiftSet
    public let variant: ErasureVariant
    public let lambda: Double
    /// Precision of the original model's predictions (gradient-free; `PrecisionMode`).
    public let originalPrecision: ComputePrecision
    let strategy: SepMEVariantStrategy
    /// The UNet's bf16 weights for the original predictions, converted on first use: the base weights
    /// do not change while a group trains (the trained shifts act through adapters).
    private let originalWeights: BF16WeightCache?

    public init(model: ShiftSet, variant: ErasureVariant, lambda: Double, originalPrecision: ComputePrecision = .fp32) {
        self.model = model
        self.variant = variant
        self.lambda = lambda
        self.originalPrecision = originalPrecision
        originalWeights = originalPrecision == .bf16 ? BF16WeightCache() : nil
        strategy = variant.strategy
    }

    /// The objective for concepts whose trainable weights (`weights`, acting on the model through
    /// `ShiftSet.withTrainingWeights`) are being learned.
    // xt: [K, C, h, w], conds: [K, L, d] (+ [K, P]), blank: [1, L, d] (+ [1, P])
    public func callAsFunction(
        xt: Tensor, timestep t: Int, conds: PromptConditioning, blank: PromptConditioning, weights: [ShiftWeights]
    ) -> Value {
        let pipeline = model.pipeline
        // The UNet's start reads no text and no shift: computed once for the three evaluations of
        // x_t (original c, original c0, edited c).
        let start = pipeline.unet.textFreeStart(xt, timesteps: [Float(t)])
        let (rOrig, blankEps) = originalPredictions(start: start, conds: conds, blank: blank)
        let rEdit = strategy.editedRepresentation(
            pipeline: pipeline, start: start, conds: conds, blank: blank, originalBlankEps: blankEps)
        let lcor = Self.correlation(rEdit, rOrig)
        let values = lcor.scalars.map(Double.init)
        let eta = Self.balancingWeights(values)
        let weighted = (lcor * Tensor(eta.map(Float.init), shape: [eta.count])).sum()
        let penalty = Self.l1Penalty(ofSum: weights)
        let loss = weighted + penalty * Float(lambda)
        return Value(
            loss: loss, correlations: values, weights: eta,
            weightedCorrelation: Self.weightedCorrelation(values),
            penalty: GradMode.withNoGrad { Double(penalty.item) })
    }

    /// Σ_k η_k L_k: the value a group's stop statistic is fed (paper Eq. 37).
    static func weightedCorrelation(_ values: [Double]) -> Double {
        zip(balancingWeights(values), values).map { $0 * $1 }.reduce(0, +)
    }

    /// η_k = max_j |L_j| / |L_k| (paper Eq. 35), used as constants; 1 for a single concept and for
    /// a concept whose L_k is 0.
    static func balancingWeights(_ values: [Double]) -> [Double] {
        guard values.count > 1 else { return values.map { _ in 1 } }
        let maxAbs = values.map(abs).max() ?? 0
        return values.map { abs($0) > 0 ? maxAbs / abs($0) : 1 }
    }

    /// r_c(x_t; θ) and ε(x_t, c0; θ) for K concepts in one batched, gradient-free call with every
    /// shift suspended, continuing from the text-free start of x_t.
    // start: of xt [K, C, h, w]; conds: [K, L, d] (+ [K, P]) -> ([K, C, h, w], [K, C, h, w])
    func originalPredictions(
        start: UNet2DConditionModel.TextFreeStart, conds: PromptConditioning, blank: PromptConditioning
    ) -> (r: Tensor, blankEps: Tensor) {
        let k = start.batch
        return model.withShiftsSuspended {
            GradMode.withNoGrad {
                PrecisionMode.with(originalPrecision, cache: originalWeights) {
                    let both = PromptConditioning.concat([conds, blank.repeated(k)])
                    let eps = model.pipeline.predictNoise(continuing: start, conditioning: both)
                    let halves = eps.chunked(2, axis: 0)
                    return (halves[0] - halves[1], halves[1])
                }
            }
        }
    }

    /// Lcor for each batch item: mean(r_edit ⊙ r_orig) over channels × h × w (method.md §2).
    // rEdit, rOrig: [K, C, h, w] -> [K]
    static func correlation(_ rEdit: Tensor, _ rOrig: Tensor) -> Tensor {
        let k = rEdit.shape[0]
        return (rEdit * rOrig).reshaped([k, -1]).mean(axes: [1])
    }

    /// (1/M) Σ_i |Σ_k T_k,i|₁ over the M tensors T_i a shift changes (method.md §2, L1 term): for
    /// decoupled shifts the key and value matrices dW of every cross-attention layer (2 per layer,
    /// as the authors' `SRS_ME.py` divides), for `full` every weight and bias change of the blocks
    /// (the authors' `CiE.py`). Every weight set must change the same tensors. -> []
    public static func l1Penalty(ofSum weights: [ShiftWeights]) -> Tensor {
        guard let first = weights.first else { return Tensor(scalar: 0) }
        let tensors = weights.map(\.changedTensors)
        var total: Tensor?
        for i in tensors[0].indices {
            let sum = tensors.dropFirst().reduce(tensors[0][i]) { $0 + $1[i] }
            let l1 = sum.abs().sum()
            total = total.map { $0 + l1 } ?? l1
        }
        return (total ?? Tensor(scalar: 0)) * (1 / Float(max(first.changedTensorCount, 1)))
    }

    /// Per-iteration randomness: timestep and noise from a generator seeded by (seed, concepts,
    /// iteration), so a resumed run continues exactly where it stopped.
    static func iterationDraws(seed: UInt64, concepts: String, iteration: Int, trainTimesteps: Int, shape: [Int]) -> (timestep: Int, noise: Tensor) {
        var g = PyTorchGenerator(trainingSeed: seed, concepts: concepts, iteration: iteration)
        let t = Int((try? g.randint(low: 0, high: Int64(trainTimesteps), count: 1))?.first ?? 0)
        return (t, Tensor.randn(shape, generator: &g))
    }
}
