import Foundation
import TensorEngine

/// Weight decoupling (method.md §1): for concept k, the orthonormal basis S_k of the null space of
/// M_k = [E(c0); E(c_wm...); E(c_j), j ≠ k] — every token row of every prompt the shift must not touch —
/// found by a double-precision SVD. Exact mode keeps numerically-zero singular directions only;
/// tolerance mode also takes directions with σ < tol·σ_max and reports σ_cut for the leak bound.
public struct ConceptDecoupling {
    public let basis: Tensor  // S_k: [m, d]
    public let report: NullSpaceReport
    /// Fraction of the concept's own embedding inside the null space, |E(c_k) S_kᵀ|_F / |E(c_k)|_F,
    /// over the token rows the reach mask lets through (share inside above
    /// `ShiftAdapter.reachThreshold(relativeLeak:)`): how much of the concept the shift can reach at all.
    public let conceptReach: Double
    /// The plan's leak bound ℓ_k: the largest fraction of any row r of M_k inside the null space,
    /// max_r |S_k r| / |r|. Any shift dW = B S_k changes that row's keys or values by at most
    /// ℓ_k |dW|_F |r| (since |dW|_F = |B|_F), so |dW E(p)ᵀ|_F ≤ ℓ_k |dW|_F |E(p)|_F for every prompt p
    /// of M_k. About 1e-15 in exact mode; up to σ_cut / min_r |r| in tolerance mode.
    public let relativeLeak: Double

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
        let inside = try m.multiplied(by: ns.basis, transposingOther: true)  // [rows, m_k]
        relativeLeak = Self.largestRowFraction(inside, of: m)
        report = NullSpaceReport(
            mode: tolerance == nil ? .exact : .tolerance, tolerance: tolerance, rows: m.rows,
            rank: ns.rank, dimension: ns.dimension,
            largestDiscardedSingularValue: ns.largestDiscardedSingularValue,
            largestSingularValue: ns.singularValues.first ?? 0, leakBound: nil, relativeLeak: relativeLeak)
        let e = try DoubleMatrix(conceptEmbedding.reshaped([-1, d]))
        let projected = try e.multiplied(by: ns.basis, transposingOther: true)  // [rows of E(c_k), m_k]
        conceptReach = Self.maskedReach(projected, of: e, threshold: Double(ShiftAdapter.reachThreshold(relativeLeak: relativeLeak)))
    }

    /// |P|_F / |E|_F over the rows whose share inside, |p_i| / |e_i|, exceeds `threshold` (P: the
    /// rows of E projected onto the basis); 0 for an all-zero E.
    static func maskedReach(_ p: DoubleMatrix, of e: DoubleMatrix, threshold: Double) -> Double {
        let rows = rowEnergies(p, of: e)
        let whole = rows.reduce(0) { $0 + $1.whole }
        let reached = rows.reduce(0) { $0 + ($1.inside > threshold * threshold * $1.whole ? $1.inside : 0) }
        return whole > 0 ? (reached / whole).squareRoot() : 0
    }

    /// max_i |a_i| / |m_i| over the rows of `m` that are not zero.
    static func largestRowFraction(_ a: DoubleMatrix, of m: DoubleMatrix) -> Double {
        rowEnergies(a, of: m).filter { $0.whole > 0 }.map { ($0.inside / $0.whole).squareRoot() }.max() ?? 0
    }

    /// Per row i: |a_i|² (the row's part inside the basis) and |m_i|² (the whole row).
    private static func rowEnergies(_ a: DoubleMatrix, of m: DoubleMatrix) -> [(inside: Double, whole: Double)] {
        (0..<m.rows).map { i in
            var inside = 0.0
            var whole = 0.0
            for j in 0..<a.cols { inside += a[i, j] * a[i, j] }
            for j in 0..<m.cols { whole += m[i, j] * m[i, j] }
            return (inside, whole)
        }
    }
}
