import Foundation
import TensorEngine

/// How much each shift of a set changes what the others erase and what every shift must keep
/// (`sepme compose`): for every shift i and every column j (a concept of the set with all its
/// wordings, a protected prompt, the blank prompt), with E_j the token embeddings of column j's
/// prompts [n·L, d] and W_l the base key/value projections,
///
/// - `relativeChange[i][j]` = sqrt(Σ_l |dW_{i,l} E_jᵀ|²_F) / sqrt(Σ_l |W_l E_jᵀ|²_F): the change of
///   column j's cross-attention keys and values that shift i alone causes, relative to them (the
///   diagonal is the erasure itself);
/// - `normalisedLeak[i][j]` = max_l |dW_{i,l} E_jᵀ|_F / (|dW_{i,l}|_F |E_j|_F), which the plan's leak
///   bound ℓ_i bounds for every prompt shift i was decoupled from (`ConceptDecoupling.relativeLeak`).
///
/// A pair is checked when shift i has a leak bound and column j is a prompt it was decoupled from
/// (the blank prompt, the protected prompts, the plan's other concepts): the check fails when the
/// measured leak exceeds ℓ_i by more than `roundingFloor`, the float32 rounding of a stored shift.
public struct ShiftInterference: Codable, Equatable, Sendable {
    public enum ColumnKind: String, Codable, Sendable {
        case concept, protected, blank
    }

    public struct Column: Codable, Equatable, Sendable {
        public var name: String
        public var kind: ColumnKind
        public var prompts: [String]
    }

    /// One checked pair over its bound.
    public struct Violation: Codable, Equatable, Sendable {
        public var shift: String
        public var column: String
        public var leak: Double
        public var bound: Double
    }

    /// Leak below this passes whatever the bound: a shift's float32 weights and basis are exact only
    /// to about 1e-7 relative, so even an exact null space leaks at that level once stored.
    public static let roundingFloor = 1e-5

    public var shifts: [String]
    public var columns: [Column]
    public var relativeChange: [[Double]]
    public var normalisedLeak: [[Double]]
    /// ℓ_i per shift; nil for a shift that states none (dense or undecoupled shifts).
    public var leakBounds: [Double?]
    public var violations: [Violation]
    public var checkedPairs: Int

    public var passed: Bool { violations.isEmpty }

    enum CodingKeys: String, CodingKey {
        case shifts, columns
        case relativeChange = "relative_change"
        case normalisedLeak = "normalised_leak"
        case leakBounds = "leak_bounds"
        case violations
        case checkedPairs = "checked_pairs"
        case roundingFloor = "rounding_floor"
        case passed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        shifts = try c.decode([String].self, forKey: .shifts)
        columns = try c.decode([Column].self, forKey: .columns)
        relativeChange = try c.decode([[Double]].self, forKey: .relativeChange)
        normalisedLeak = try c.decode([[Double]].self, forKey: .normalisedLeak)
        leakBounds = try c.decode([Double?].self, forKey: .leakBounds)
        violations = try c.decode([Violation].self, forKey: .violations)
        checkedPairs = try c.decode(Int.self, forKey: .checkedPairs)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(shifts, forKey: .shifts)
        try c.encode(columns, forKey: .columns)
        try c.encode(relativeChange, forKey: .relativeChange)
        try c.encode(normalisedLeak, forKey: .normalisedLeak)
        try c.encode(leakBounds, forKey: .leakBounds)  // a shift without a bound is null
        try c.encode(violations, forKey: .violations)
        try c.encode(checkedPairs, forKey: .checkedPairs)
        try c.encode(Self.roundingFloor, forKey: .roundingFloor)
        try c.encode(passed, forKey: .passed)
    }

    /// Measures `shifts` (one per concept, with their leak bounds) on `model`'s base weights.
    /// `protectedPrompts` are the prompts every shift must keep (the blank prompt is added).
    public init(model: ShiftSet, shifts: [(shift: ConceptShift, leakBound: Double?)], protectedPrompts: [String]) throws {
        try model.check(shifts.map(\.shift), force: false)
        columns =
            shifts.map { Column(name: $0.shift.name, kind: .concept, prompts: $0.shift.metadata.concepts) }
            + protectedPrompts.map { Column(name: $0, kind: .protected, prompts: [$0]) }
            + [Column(name: "", kind: .blank, prompts: [""])]
        self.shifts = shifts.map(\.shift.name)
        leakBounds = shifts.map(\.leakBound)
        let layers = model.projections.keyValueProjections
        // E_j [n·L, d], and W_l E_jᵀ energies per layer.
        let embeddings = columns.map { column in
            GradMode.withNoGrad {
                Tensor.concat(column.prompts.map { model.pipeline.conditioning(prompts: [$0]).context }, axis: 0).reshaped([
                    -1, model.projections.textWidth
                ])
            }
        }
        let embeddingNorms = embeddings.map { Self.norm($0) }
        let baseEnergy = embeddings.map { e in layers.reduce(0.0) { $0 + Self.squaredNorm(Tensor.linear(e, weight: $1.1.weight)) } }
        var change: [[Double]] = []
        var leak: [[Double]] = []
        var violations: [Violation] = []
        var checked = 0
        for (i, entry) in shifts.enumerated() {
            let deltas = layers.compactMap { key, _ in entry.shift.weightDelta(for: key) }
            let deltaNorms = deltas.map { Self.norm($0) }
            var changeRow: [Double] = []
            var leakRow: [Double] = []
            for (j, e) in embeddings.enumerated() {
                var energy = 0.0
                var largest = 0.0
                for (delta, deltaNorm) in zip(deltas, deltaNorms) {
                    let moved = Self.squaredNorm(Tensor.linear(e, weight: delta))
                    energy += moved
                    let scale = deltaNorm * embeddingNorms[j]
                    if scale > 0 { largest = max(largest, moved.squareRoot() / scale) }
                }
                changeRow.append(baseEnergy[j] > 0 ? (energy / baseEnergy[j]).squareRoot() : 0)
                leakRow.append(largest)
                let decoupledFrom = columns[j].kind != .concept || j != i
                if let bound = entry.leakBound, decoupledFrom {
                    checked += 1
                    if largest > bound + Self.roundingFloor {
                        violations.append(Violation(shift: entry.shift.name, column: columns[j].name, leak: largest, bound: bound))
                    }
                }
            }
            change.append(changeRow)
            leak.append(leakRow)
        }
        relativeChange = change
        normalisedLeak = leak
        self.violations = violations
        checkedPairs = checked
    }

    private static func squaredNorm(_ t: Tensor) -> Double { t.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }
    private static func norm(_ t: Tensor) -> Double { squaredNorm(t).squareRoot() }
}
