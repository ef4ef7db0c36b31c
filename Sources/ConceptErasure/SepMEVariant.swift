import Diffusion
import NeuralNet
import TensorEngine

/// What distinguishes SepME's variants (method.md §3) inside one training loop: which concepts
/// train together, which tensors they change and in which form, and how the edited representation
/// is taken. The loss (η-weighted correlations plus the L1 term on the summed shift) and the one stop
/// statistic per group are the same for every variant (`SepMEObjective`). One type per variant.
protocol SepMEVariantStrategy {
    var variant: ErasureVariant { get }
    /// Concept indices trained together, in order.
    func groups(conceptCount: Int) -> [[Int]]
    /// Zero-initialised trainable weights for one concept (its null-space basis when decoupled).
    func trainableWeights(projections: CrossAttentionProjections, basis: Tensor?, beta: Float, reachThreshold: Float) -> ShiftWeights
    /// r_c(x_t; θ + dW) for the group's K concepts, continuing from the shared text-free start.
    // start: of x_t [K, C, h, w]; conds: [K, L, d] (+ [K, P]); blank: [1, L, d] (+ [1, P]);
    // blankEps: ε(x_t, c0; θ) [K, C, h, w] -> [K, C, h, w]
    func editedRepresentation(
        pipeline: any PromptConditionedPipeline, start: UNet2DConditionModel.TextFreeStart, conds: PromptConditioning,
        blank: PromptConditioning, originalBlankEps: Tensor
    ) -> Tensor
}

extension SepMEVariantStrategy {
    /// Decoupled variants: the blank prompt's prediction is unchanged by the shifts, so only the
    /// concept prompts run through the edited model.
    func editedRepresentation(
        pipeline: any PromptConditionedPipeline, start: UNet2DConditionModel.TextFreeStart, conds: PromptConditioning,
        blank: PromptConditioning, originalBlankEps: Tensor
    ) -> Tensor {
        pipeline.predictNoise(continuing: start, conditioning: conds) - originalBlankEps
    }

    /// Decoupled variants: factors A over the concept's basis on every key and value projection.
    func trainableWeights(projections: CrossAttentionProjections, basis: Tensor?, beta: Float, reachThreshold: Float) -> ShiftWeights {
        .trainable(projections: projections.keyValueProjections, basis: basis, beta: beta, reachThreshold: reachThreshold)
    }
}

/// SRS-ME: each concept alone, one after the other, each in its own null space and with its own
/// stop statistic of its Lcor (paper Eq. 37 with one concept).
struct SeparateVariant: SepMEVariantStrategy {
    var variant: ErasureVariant { .separate }
    func groups(conceptCount: Int) -> [[Int]] { (0..<conceptCount).map { [$0] } }
}

/// SRS-ME† (paper Eq. 35, 37, Algorithm 1): all concepts at once, loss Σ η_k Lcor_k with
/// η_k = max_j |Lcor_j| / |Lcor_k| and the L1 term on the summed shift; one stop statistic over the
/// weighted sum, so every concept stops at the same iteration.
struct JointVariant: SepMEVariantStrategy {
    var variant: ErasureVariant { .joint }
    func groups(conceptCount: Int) -> [[Int]] { [Array(0..<conceptCount)] }
}

/// SRS-ME‡ (the authors' `CiE.py`): every parameter of every cross-attention block (the q, k, v and
/// output weights and the output bias) as a dense, zero-initialised change; no decoupling, β = 1;
/// not restorable. The concepts train together as in `joint`. The blank prompt must run through
/// the edited model too.
struct FullVariant: SepMEVariantStrategy {
    var variant: ErasureVariant { .full }
    func groups(conceptCount: Int) -> [[Int]] { [Array(0..<conceptCount)] }

    func trainableWeights(projections: CrossAttentionProjections, basis: Tensor?, beta: Float, reachThreshold: Float) -> ShiftWeights {
        .trainable(projections: projections.allProjections, basis: nil, beta: 1, biases: true)
    }

    func editedRepresentation(
        pipeline: any PromptConditionedPipeline, start: UNet2DConditionModel.TextFreeStart, conds: PromptConditioning,
        blank: PromptConditioning, originalBlankEps: Tensor
    ) -> Tensor {
        let both = PromptConditioning.concat([conds, blank.repeated(conds.batch)])
        let eps = pipeline.predictNoise(continuing: start, conditioning: both).chunked(2, axis: 0)
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
