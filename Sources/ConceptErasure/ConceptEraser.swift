import Diffusion
import Foundation
import NeuralNet
import TensorEngine

/// Erases concepts from a loaded model (method.md §1-3) and returns one ConceptShift per concept.
/// The base weights are never modified: shifts live in adapters on the cross-attention projections,
/// and the original model's predictions are taken from the same model with the adapters switched off
/// (one copy of the model in memory).
public final class ConceptEraser {
    public let pipeline: StableDiffusionPipeline
    public let projections: CrossAttentionProjections
    public let hyperparameters: ErasureHyperparameters
    public let fingerprint: String
    /// Polled once per iteration; true stops training after writing a checkpoint.
    public var shouldStop: () -> Bool = { false }
    /// Where checkpoints go (nil: no checkpoints, no resume).
    public var checkpointDirectory: URL?
    public var checkpointEvery = 25
    public var resume = false
    /// (concept, iteration, loss, momentum) after every iteration.
    public var progress: ((String, Int, Double, Double?) -> Void)?

    public init(pipeline: StableDiffusionPipeline, hyperparameters: ErasureHyperparameters) throws {
        try hyperparameters.validate()
        self.pipeline = pipeline
        self.hyperparameters = hyperparameters
        projections = try CrossAttentionProjections(in: pipeline.unet)
        fingerprint = ModelFingerprint.of(textEncoder: pipeline.textEncoder, crossAttention: projections)
        pipeline.unet.setRequiresGrad(false)
        pipeline.textEncoder.setRequiresGrad(false)
    }

    /// E(p) for one prompt: [1, L, d].
    public func embedding(_ prompt: String) -> Tensor { pipeline.encode(prompts: [prompt]) }

    /// Null spaces of every concept of a request (method.md §1): each concept is decoupled from the
    /// blank prompt, the protected prompts, the other concepts, and `alsoDecoupleFrom`.
    public func decouple(concepts: [String], protected: [String], alsoDecoupleFrom: [String] = []) throws -> [ConceptDecoupling] {
        let lowered = Set(protected.map { $0.lowercased() })
        for c in concepts where lowered.contains(c.lowercased()) {
            throw ErasureError.invalidArgument("concept '\(c)' is also listed as protected: a shift cannot both change and keep it")
        }
        guard Set(concepts.map { $0.lowercased() }).count == concepts.count else {
            throw ErasureError.invalidArgument("a concept is listed twice: \(concepts)")
        }
        let blank = embedding("")
        let protectedE = protected.map(embedding)
        let extraE = alsoDecoupleFrom.map(embedding)
        let conceptE = concepts.map(embedding)
        return try concepts.indices.map { k in
            let others = conceptE.indices.filter { $0 != k }.map { conceptE[$0] }
            return try ConceptDecoupling(concept: concepts[k], conceptEmbedding: conceptE[k],
                                         protectedEmbeddings: [blank] + protectedE + others + extraE,
                                         tolerance: hyperparameters.nullSpaceTolerance)
        }
    }

    // MARK: Shared pieces of an iteration

    /// Per-iteration randomness: timestep and noise from a generator seeded by (seed, concept, iteration),
    /// so a resumed run continues exactly where it stopped.
    func iterationDraws(concept: String, iteration: Int, shape: [Int]) -> (timestep: Int, noise: Tensor) {
        var h: UInt64 = 1469598103934665603
        for b in concept.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        var g = PyTorchGenerator(seed: (hyperparameters.seed &+ h &+ UInt64(iteration) &* 0x9E37_79B9) & 0xFFFF_FFFF)
        let T = pipeline.schedulerConfiguration.numTrainTimesteps
        let t = Int((try? g.randint(low: 0, high: Int64(T), count: 1))?.first ?? 0)
        return (t, Tensor.randn(shape, generator: &g))
    }

    /// Original representations r_c(x_t; θ) and ε(x_t, c0; θ) for several concepts in one batched,
    /// gradient-free call with every shift switched off, continuing from the text-free start of
    /// x_t (`start`, shared with the edited model's call: the shifts act on cross-attention only).
    // start: of xt [K, C, h, w]; conds: [K, L, d] -> ([K, C, h, w], [K, C, h, w])
    func originalPredictions(start: UNet2DConditionModel.TextFreeStart, conds: Tensor, blank: Tensor) -> (r: Tensor, blankEps: Tensor) {
        let k = start.batch
        setShiftAdapters(projections.allProjections, enabled: false)
        defer { setShiftAdapters(projections.allProjections, enabled: true) }
        return GradMode.withNoGrad {
            let blanks = Tensor.concat([Tensor](repeating: blank, count: k), axis: 0)
            let eps = pipeline.unet(continuing: start, encoderHiddenStates: Tensor.concat([conds, blanks], axis: 0))
            let halves = eps.chunked(2, axis: 0)
            return (halves[0] - halves[1], halves[1])
        }
    }

    /// Lcor for each batch item: mean(r_edit * r_orig) over h × w × channels (method.md §2). -> [K]
    func correlation(_ rEdit: Tensor, _ rOrig: Tensor) -> Tensor {
        let k = rEdit.shape[0]
        return (rEdit * rOrig).reshaped([k, -1]).mean(axes: [1])
    }

    var layerCount: Int { projections.layers.count }
}
