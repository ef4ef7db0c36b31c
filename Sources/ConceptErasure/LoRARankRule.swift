/// How many singular directions of a projection's summed shift ΣdW a LoRA export keeps: the
/// truncated SVD ΣdW ≈ Σ_{i≤r} σ_i u_i v_iᵀ (Eckart–Young: the best rank-r approximation in the
/// Frobenius norm), with r chosen per projection from its singular values σ_1 ≥ σ_2 ≥ … ≥ 0.
///
/// - `energy` F: the smallest r with Σ_{i≤r} σ_i² ≥ F · Σ_i σ_i² (the fraction of ΔW's squared
///   Frobenius norm the LoRA keeps; the relative Frobenius error is then √(1 − kept)). F = 1 means
///   the exact export: r is the numerical rank.
/// - `maxRank` N: r ≤ N on every projection.
/// - Never above the numerical rank (σ_i > tol · σ_1, tol = max(d_out, d_in) · ε_float32 by default):
///   directions below it are float32 rounding of the product, not part of the shift.
///
/// When `energy` is not given it follows from the rest: with a rank cap the export is the exact one
/// capped at N (a user who asks for rank N wants N, not fewer); without one, `automatic(…)` keeps
/// SepME's factorised shifts exact (they are low-rank by construction and what a user restores
/// must be the shift itself) and keeps `defaultEnergy` of every projection as soon as one summed
/// shift is dense (the `full` variant and the baselines, whose ΔW has near full rank).
public struct LoRARankRule: Equatable, Sendable {
    /// The fraction of Frobenius energy kept by default for dense shifts.
    public static let defaultEnergy = 0.999
    /// Setting keys of the two levers, for `ErasureError.outOfRange`.
    public static let energyKey = "energy"
    public static let rankKey = "rank"

    /// The fraction of each projection's squared Frobenius norm to keep, in (0, 1]; nil: see the type.
    public let energy: Double?
    /// The most singular directions any projection keeps (≥ 1); nil: no cap.
    public let maxRank: Int?

    /// The default rule (no lever given).
    public static let automatic = LoRARankRule(checkedEnergy: nil, maxRank: nil)
    /// Every projection at its numerical rank: the LoRA reproduces ΣdW to float rounding.
    public static let exact = LoRARankRule(checkedEnergy: 1, maxRank: nil)

    /// - Throws: `outOfRange` ("energy" outside (0, 1] or not finite, "rank" below 1).
    public init(energy: Double? = nil, maxRank: Int? = nil) throws {
        if let energy, !(energy.isFinite && energy > 0 && energy <= 1) {
            throw ErasureError.outOfRange(key: Self.energyKey, value: "\(energy)", allowed: "a fraction in (0, 1]")
        }
        if let maxRank, maxRank < 1 {
            throw ErasureError.outOfRange(key: Self.rankKey, value: "\(maxRank)", allowed: "at least 1")
        }
        self.init(checkedEnergy: energy, maxRank: maxRank)
    }

    private init(checkedEnergy: Double?, maxRank: Int?) {
        self.energy = checkedEnergy
        self.maxRank = maxRank
    }

    /// The energy fraction this rule applies to a sum of shifts, `allFactorised` when every one of
    /// them is factorised.
    public func resolvedEnergy(allFactorised: Bool) -> Double {
        if let energy { return energy }
        if maxRank != nil || allFactorised { return 1 }
        return Self.defaultEnergy
    }

    /// What the rule chose for one projection.
    public struct Choice: Equatable, Sendable, Codable {
        /// Singular values above the numerical-rank cutoff.
        public var numericalRank: Int
        /// The rank kept (≤ numericalRank, ≤ maxRank).
        public var rank: Int
        /// Σ_{i≤rank} σ_i² / Σ_i σ_i² (1 for a zero matrix: nothing is lost).
        public var energyKept: Double

        public init(numericalRank: Int, rank: Int, energyKept: Double) {
            self.numericalRank = numericalRank
            self.rank = rank
            self.energyKept = energyKept
        }

        enum CodingKeys: String, CodingKey {
            case numericalRank = "numerical_rank"
            case rank
            case energyKept = "energy_kept"
        }
    }

    /// Picks the rank for singular values `sigma` (descending, non-negative) of a [rows, cols] matrix.
    /// - Parameters:
    ///   - energy: the fraction to keep (already resolved), in (0, 1].
    ///   - relativeTolerance: the numerical-rank cutoff relative to σ_1; nil: max(rows, cols) · ε_float32
    ///     (numpy's `matrix_rank` rule for float32 data).
    /// A partial sum equal to F · Σσ² up to 1e-12 relative counts as reaching it, so a spectrum exactly at
    /// the boundary (e.g. σ² = 999, 1 with F = 0.999) keeps r = 1 whatever the rounding of F · Σσ².
    public static func choose(
        singularValues sigma: [Double], rows: Int, cols: Int, energy: Double, maxRank: Int?,
        relativeTolerance: Double? = nil
    ) -> Choice {
        let tolerance = relativeTolerance ?? Double(max(rows, cols)) * Double(Float.ulpOfOne)
        let cutoff = (sigma.first ?? 0) * tolerance
        let numerical = sigma.prefix { $0 > cutoff && $0 > 0 }.count
        let squares = sigma.map { $0 * $0 }
        let total = squares.reduce(0, +)
        var rank = numerical
        if energy < 1 {
            let needed = energy * total * (1 - 1e-12)
            var kept = 0.0
            rank = 0
            while rank < numerical && kept < needed {
                kept += squares[rank]
                rank += 1
            }
        }
        if let maxRank { rank = min(rank, maxRank) }
        let kept = squares.prefix(rank).reduce(0, +)
        return Choice(numericalRank: numerical, rank: rank, energyKept: total > 0 ? min(kept / total, 1) : 1)
    }
}
