import Diffusion
import NeuralNet
import TensorEngine

/// What distinguishes SepME's variants (method.md §3) inside one training loop: which concepts
/// train together, which projections they edit and in which form, how the edited representation is
/// taken, and how the concepts' losses and penalties combine. One conforming type per variant.
protocol SepMEVariantStrategy {
    var variant: ErasureVariant { get }
    /// Concept indices trained together, in order.
    func groups(conceptCount: Int) -> [[Int]]
    /// Zero-initialised trainable weights for one concept (its null-space basis when decoupled).
    func trainableWeights(projections: CrossAttentionProjections, basis: Tensor?, beta: Float) -> ShiftWeights
    /// r_c(x_t; θ + dW) for the group's K concepts, continuing from the shared text-free start.
    // start: of x_t [K, C, h, w]; conds: [K, L, d]; blank: [1, L, d]; blankEps: ε(x_t, c0; θ) [K, C, h, w] -> [K, C, h, w]
    func editedRepresentation(
        unet: UNet2DConditionModel, start: UNet2DConditionModel.TextFreeStart, conds: Tensor,
        blank: Tensor, originalBlankEps: Tensor
    ) -> Tensor
    /// Σ_k η_k Lcor_k: the concepts' correlations combined. lcor: [K] -> []
    func combinedCorrelation(_ lcor: Tensor, values: [Double]) -> Tensor
    /// The L1 term of the loss (before λ), given each concept's own penalty `own`. -> []
    func penalty(own: [Tensor], weights: [ShiftWeights], keys: [String], layerCount: Int) -> Tensor
}

extension SepMEVariantStrategy {
    /// Decoupled variants: the blank prompt's prediction is unchanged by the shifts, so only the
    /// concept prompts run through the edited model.
    func editedRepresentation(
        unet: UNet2DConditionModel, start: UNet2DConditionModel.TextFreeStart, conds: Tensor,
        blank: Tensor, originalBlankEps: Tensor
    ) -> Tensor {
        unet(continuing: start, encoderHiddenStates: conds) - originalBlankEps
    }

    func combinedCorrelation(_ lcor: Tensor, values: [Double]) -> Tensor { lcor.sum() }

    /// Each concept's own (1/M) Σ_l |dW_l|₁, summed over the group.
    func penalty(own: [Tensor], weights: [ShiftWeights], keys: [String], layerCount: Int) -> Tensor {
        own.dropFirst().reduce(own[0], +)
    }

    func trainableWeights(projections: CrossAttentionProjections, basis: Tensor?, beta: Float) -> ShiftWeights {
        .trainable(projections: projections.keyValueProjections, basis: basis, beta: beta)
    }
}

/// SRS-ME: each concept alone, one after the other, each in its own null space.
struct SeparateVariant: SepMEVariantStrategy {
    var variant: ErasureVariant { .separate }
    func groups(conceptCount: Int) -> [[Int]] { (0..<conceptCount).map { [$0] } }
}

/// SRS-ME†: all concepts at once, loss Σ η_k Lcor_k with η_k = max_j |Lcor_j| / |Lcor_k|, and the
/// L1 term on the summed shift; each concept frozen once its own momentum statistic reaches τ.
struct JointVariant: SepMEVariantStrategy {
    var variant: ErasureVariant { .joint }
    func groups(conceptCount: Int) -> [[Int]] { [Array(0..<conceptCount)] }

    func combinedCorrelation(_ lcor: Tensor, values: [Double]) -> Tensor {
        let k = values.count
        let maxAbs = values.map(abs).max() ?? 0
        let eta = values.map { v -> Float in (k > 1 && abs(v) > 0) ? Float(maxAbs / abs(v)) : 1 }
        return (lcor * Tensor(eta, shape: [k])).sum()
    }

    /// (1/M) Σ_l |Σ_j dW_j,l|₁ on the summed shift.
    func penalty(own: [Tensor], weights: [ShiftWeights], keys: [String], layerCount: Int) -> Tensor {
        weights.count > 1 ? SepMEObjective.l1Penalty(ofSum: weights, keys: keys, layerCount: layerCount) : own[0]
    }
}

/// SRS-ME‡: dense deltas on every cross-attention projection (q, k, v, out), no decoupling, β = 1;
/// not restorable. The blank prompt must run through the edited model too.
struct FullVariant: SepMEVariantStrategy {
    var variant: ErasureVariant { .full }
    func groups(conceptCount: Int) -> [[Int]] { [Array(0..<conceptCount)] }

    func trainableWeights(projections: CrossAttentionProjections, basis: Tensor?, beta: Float) -> ShiftWeights {
        .trainable(projections: projections.allProjections, basis: nil, beta: 1)
    }

    func editedRepresentation(
        unet: UNet2DConditionModel, start: UNet2DConditionModel.TextFreeStart, conds: Tensor,
        blank: Tensor, originalBlankEps: Tensor
    ) -> Tensor {
        let k = conds.shape[0]
        let blanks = Tensor.concat([Tensor](repeating: blank, count: k), axis: 0)
        let eps = unet(continuing: start, encoderHiddenStates: Tensor.concat([conds, blanks], axis: 0)).chunked(2, axis: 0)
        return eps[0] - eps[1]
    }
}

extension ErasureVariant {
    var strategy: SepMEVariantStrategy {
        switch self {
        case .separate: return SeparateVariant()
        case .joint: return JointVariant()
        case .full: return FullVariant()
        }
    }
}
