/// How a null space was found (method.md §1, §4).
public enum NullSpaceMode: String, Codable, Sendable {
    /// Singular values below the float64 rounding threshold count as zero.
    case exact
    /// Singular values below `tolerance` · σ_1 count as zero too.
    case tolerance
}

/// The decoupling of one concept (method.md §1, §4).
public struct NullSpaceReport: Codable, Equatable, Sendable {
    public var mode: NullSpaceMode
    public var tolerance: Double?
    /// Rows of M_k (token embeddings of every prompt the shift must not touch).
    public var rows: Int
    public var rank: Int
    /// m_k: dimension of the basis S_k.
    public var dimension: Int
    /// σ_cut: the largest singular value whose direction was put into the null space (0 when exact).
    public var largestDiscardedSingularValue: Double
    public var largestSingularValue: Double
    /// Bound on |M_k dW^T| (Frobenius) for the trained shift: σ_cut · max_l |dW_l|.
    public var leakBound: Double?
    /// ℓ_k, the largest share of a row of M_k inside the basis (`ConceptDecoupling.relativeLeak`):
    /// what sets the reach mask's threshold (`ShiftAdapter.reachThreshold(relativeLeak:)`). Nil in
    /// files written before it was recorded, whose mask keeps the fixed threshold.
    public var relativeLeak: Double?

    enum CodingKeys: String, CodingKey {
        case mode, tolerance, rows, rank, dimension
        case largestDiscardedSingularValue = "largest_discarded_singular_value"
        case largestSingularValue = "largest_singular_value"
        case leakBound = "leak_bound"
        case relativeLeak = "relative_leak"
    }
}
