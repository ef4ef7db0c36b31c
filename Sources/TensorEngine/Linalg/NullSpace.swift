/// An orthonormal basis of the (approximate) null space of a matrix M, with what it takes to
/// report how far it is from exact (method.md §1 "Weight decoupling" and §4 "Capacity").
public struct NullSpaceBasis: Sendable {
    /// S: `dimension x cols`, orthonormal rows spanning the directions whose singular value was
    /// treated as zero, so M·Sᵀ ≈ 0. Rows are ordered by decreasing singular value (row 0 is the
    /// direction of `largestDiscardedSingularValue` when that direction has one).
    public let basis: DoubleMatrix
    /// Number of singular values kept (the numerical rank of M under the chosen mode).
    public let rank: Int
    /// All min(rows, cols) singular values of M, descending.
    public let singularValues: [Double]
    /// The threshold used: exact mode max(rows, cols)·eps·σ_max, tolerance mode tol·σ_max.
    public let cutoff: Double
    /// σ_cut: the largest singular value whose direction went into the null space (0 if none did,
    /// including when the only discarded directions are the cols − rows that have no singular value).
    public let largestDiscardedSingularValue: Double

    /// Number of basis vectors (cols − rank); 0 means the null space is empty.
    public var dimension: Int { basis.rows }

    /// Upper bound on ‖M·ΔWᵀ‖ for a shift ΔW = A·S whose rows lie in the span of `basis`:
    /// ‖M ΔWᵀ‖ = ‖M Sᵀ Aᵀ‖ ≤ ‖M Sᵀ‖₂ ‖A‖ = σ_cut·‖ΔW‖ (same norm, Frobenius or spectral, on both sides;
    /// method.md §4). The bound is for exact arithmetic: the computed basis adds rounding of order
    /// eps·σ_max per entry of M·Sᵀ (about 1e-16 relative here), and Float32 weights add far more.
    public func leakBound(forShiftNorm shiftNorm: Double) -> Double {
        largestDiscardedSingularValue * shiftNorm
    }
}

/// Null spaces of embedding matrices via a double-precision SVD (replaces the reference's exact
/// symbolic elimination, method.md §1).
public enum NullSpace {
    /// How small a singular value must be for its direction to count as null.
    public enum Mode: Sendable, Equatable {
        /// Numerical rank with numpy's `matrix_rank` threshold: σ ≤ max(rows, cols)·eps·σ_max is zero.
        case exact
        /// Approximate null space: σ < tol·σ_max is zero (method.md §4 "Capacity").
        case relativeTolerance(Double)
    }

    /// Orthonormal basis of the null space of `m` (`rows x cols`), from the right singular vectors
    /// of an SVD whose Vᵀ is `cols x cols` (thin SVD already gives that when rows ≥ cols; a full one
    /// is computed otherwise). A zero matrix (or one with no rows) gives the whole space; a matrix of
    /// full column rank gives a basis with 0 rows, and the caller decides whether that is an error.
    ///
    /// - Throws: `invalidArgument` for a negative or non-finite tolerance, `nonFiniteInput` for NaN/Inf
    ///   in `m`, and the SVD's LAPACK errors.
    public static func basis(of m: DoubleMatrix, mode: Mode) throws -> NullSpaceBasis {
        let cols = m.cols
        if case let .relativeTolerance(tol) = mode, !(tol.isFinite && tol >= 0) {
            throw LinalgError.invalidArgument(
                operation: "NullSpace.basis", argument: "relativeTolerance",
                reason: "must be finite and >= 0, got \(tol)")
        }
        let svd = try SVD(m, kind: m.rows >= m.cols ? .thin : .full)
        let s = svd.singularValues
        let sigmaMax = s.first ?? 0

        let cutoff: Double
        switch mode {
        case .exact: cutoff = Double(max(m.rows, m.cols)) * Double.ulpOfOne * sigmaMax
        case let .relativeTolerance(tol): cutoff = tol * sigmaMax
        }
        // A singular value is kept when it is positive and above the cutoff (strictly above in exact
        // mode as numpy does; at or above in tolerance mode, where "below tol·σ_max" is zero).
        let rank = s.prefix { sigma in
            guard sigma > 0 else { return false }
            switch mode {
            case .exact: return sigma > cutoff
            case .relativeTolerance: return sigma >= cutoff
            }
        }.count
        let sigmaCut = rank < s.count ? s[rank] : 0

        precondition(svd.vt.rows == cols, "NullSpace: SVD returned Vᵀ with \(svd.vt.rows) rows, expected \(cols)")
        return NullSpaceBasis(
            basis: svd.vt.rows(rank..<cols), rank: rank, singularValues: s, cutoff: cutoff,
            largestDiscardedSingularValue: sigmaCut)
    }
}
