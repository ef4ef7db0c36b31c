import Foundation
import TensorEngine

/// Weight decoupling (method.md §1): for concept k, the orthonormal basis S_k of the null space of
/// M_k = [E(c0); E(c_wm...); E(c_j), j ≠ k] — every token row of every prompt the shift must not touch —
/// found by a double-precision SVD. Exact mode keeps numerically-zero singular directions only;
/// tolerance mode also takes directions with σ < tol·σ_max and reports σ_cut for the leak bound.
public struct ConceptDecoupling {
    public let basis: Tensor  // S_k: [m, d]
    public let report: NullSpaceReport
    /// Fraction of the concept's own embedding energy inside the null space, |E(c_k) S_kᵀ|_F / |E(c_k)|_F:
    /// how much of the concept the shift can reach at all.
    public let conceptReach: Double

    /// - Parameters:
    ///   - concept: name for messages.
    ///   - conceptEmbedding: E(c_k): [L, d] (or [n·L, d] for several prompts of the concept).
    ///   - protectedEmbeddings: each [L, d]: the blank prompt, protected prompts, other concepts.
    ///   - tolerance: nil for the exact null space.
    public init(concept: String, conceptEmbedding: Tensor, protectedEmbeddings: [Tensor], tolerance: Double?) throws {
        guard let d = conceptEmbedding.shape.last, !protectedEmbeddings.isEmpty,
            protectedEmbeddings.allSatisfy({ $0.shape.last == d })
        else {
            throw ErasureError.invalidPlan(
                field: "concepts", reason: "concept '\(concept)': decoupling needs the blank prompt's embedding and embeddings of one width")
        }
        let rows = protectedEmbeddings.map { $0.reshaped([-1, d]) }
        let stacked = Tensor.concat(rows, axis: 0)
        let m = try DoubleMatrix(stacked)
        let mode: NullSpace.Mode = tolerance.map { .relativeTolerance($0) } ?? .exact
        let ns = try NullSpace.basis(of: m, mode: mode)
        guard ns.dimension > 0 else {
            let perPrompt = max(1.0, Double(ns.rank) / Double(protectedEmbeddings.count))
            throw ErasureError.noNullSpace(
                concept: concept, rows: m.rows, rank: ns.rank, width: d,
                promptsThatFit: max(0, Int((Double(d) / perPrompt).rounded(.down)) - 1))
        }
        basis = ns.basis.toTensor()
        report = NullSpaceReport(
            mode: tolerance == nil ? .exact : .tolerance, tolerance: tolerance, rows: m.rows,
            rank: ns.rank, dimension: ns.dimension,
            largestDiscardedSingularValue: ns.largestDiscardedSingularValue,
            largestSingularValue: ns.singularValues.first ?? 0, leakBound: nil)
        let e = try DoubleMatrix(conceptEmbedding.reshaped([-1, d]))
        let projected = try e.multiplied(by: ns.basis, transposingOther: true)
        conceptReach = e.frobeniusNorm > 0 ? projected.frobeniusNorm / e.frobeniusNorm : 0
    }
}
