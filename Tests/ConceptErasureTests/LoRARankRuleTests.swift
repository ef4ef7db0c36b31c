import ConceptErasure
import XCTest

/// `LoRARankRule`: the rank a LoRA export keeps per projection, against singular values whose energy
/// sums are worked out by hand in each test (σ² listed, Σσ² and the partial sums in the comments).
final class LoRARankRuleTests: XCTestCase {
    private func choose(_ sigma: [Double], energy: Double, cap: Int? = nil, rows: Int = 8, cols: Int = 8) -> LoRARankRule.Choice {
        LoRARankRule.choose(singularValues: sigma, rows: rows, cols: cols, energy: energy, maxRank: cap)
    }

    /// σ² = 999, 1: Σσ² = 1000 and r = 1 keeps 999/1000 = 0.999 exactly, so the default keeps one
    /// direction; σ² = 998.99, 1.01 keeps 0.99899 with one, below the boundary, so it needs both.
    func testEnergyExactlyAtTheBoundaryKeepsThatRank() {
        let at = choose([Double(999).squareRoot(), 1], energy: LoRARankRule.defaultEnergy)
        XCTAssertEqual(at.rank, 1)
        XCTAssertEqual(at.numericalRank, 2)
        XCTAssertEqual(at.energyKept, 0.999, accuracy: 1e-12)
        let below = choose([Double(998.99).squareRoot(), Double(1.01).squareRoot()], energy: LoRARankRule.defaultEnergy)
        XCTAssertEqual(below.rank, 2)
        XCTAssertEqual(below.energyKept, 1, accuracy: 1e-12)
    }

    /// σ = 4, 3, 2, 1: σ² = 16, 9, 4, 1, Σσ² = 30, partial sums 16, 25, 29, 30.
    func testSmallestRankReachingTheFraction() {
        let sigma: [Double] = [4, 3, 2, 1]
        let cases: [(energy: Double, rank: Int, kept: Double)] = [
            (0.5, 1, 16.0 / 30), (16.0 / 30, 1, 16.0 / 30), (0.54, 2, 25.0 / 30), (0.9, 3, 29.0 / 30),
            (0.97, 4, 1), (1, 4, 1)
        ]
        for c in cases {
            let got = choose(sigma, energy: c.energy)
            XCTAssertEqual(got.rank, c.rank, "energy \(c.energy)")
            XCTAssertEqual(got.energyKept, c.kept, accuracy: 1e-12, "energy \(c.energy)")
            XCTAssertEqual(got.numericalRank, 4)
        }
    }

    func testRankCapLimitsEveryRule() {
        let sigma: [Double] = [4, 3, 2, 1]
        let capped = choose(sigma, energy: 1, cap: 2)
        XCTAssertEqual(capped.rank, 2)
        XCTAssertEqual(capped.energyKept, 25.0 / 30, accuracy: 1e-12)
        // The energy rule's own rank (1) is below the cap (3): the smaller wins.
        XCTAssertEqual(choose(sigma, energy: 0.5, cap: 3).rank, 1)
        // A cap above the numerical rank does not add directions.
        XCTAssertEqual(choose(sigma, energy: 1, cap: 100).rank, 4)
    }

    /// Singular values at or below max(rows, cols)·ε_float32·σ_1 are float32 rounding: never kept.
    func testNeverAboveTheNumericalRank() {
        // 8·1.19e-7 ≈ 9.5e-7: 1e-7 and 0 are below it; 1e-3 is above.
        let sigma: [Double] = [1, 1e-3, 1e-7, 0]
        let exact = choose(sigma, energy: 1)
        XCTAssertEqual(exact.numericalRank, 2)
        XCTAssertEqual(exact.rank, 2)
        XCTAssertEqual(exact.energyKept, (1 + 1e-6) / (1 + 1e-6 + 1e-14), accuracy: 1e-15)
        XCTAssertEqual(choose(sigma, energy: 1, cap: 3).rank, 2)
        // An explicit cutoff of 1e-2 leaves only σ_1.
        let strict = LoRARankRule.choose(singularValues: sigma, rows: 8, cols: 8, energy: 1, maxRank: nil, relativeTolerance: 1e-2)
        XCTAssertEqual(strict.rank, 1)
    }

    func testZeroMatrixKeepsNothingAndLosesNothing() {
        for energy in [0.5, LoRARankRule.defaultEnergy, 1] {
            let zero = choose([0, 0, 0], energy: energy, cap: 2)
            XCTAssertEqual(zero, LoRARankRule.Choice(numericalRank: 0, rank: 0, energyKept: 1))
        }
        XCTAssertEqual(choose([], energy: 1).rank, 0)
    }

    /// Without a lever: exact for factorised-only sums, 99.9 % once a dense shift is in; a rank cap
    /// alone caps the exact export; an explicit fraction always wins.
    func testResolvedEnergy() throws {
        XCTAssertEqual(LoRARankRule.automatic.resolvedEnergy(allFactorised: true), 1)
        XCTAssertEqual(LoRARankRule.automatic.resolvedEnergy(allFactorised: false), 0.999)
        XCTAssertEqual(LoRARankRule.exact.resolvedEnergy(allFactorised: false), 1)
        XCTAssertEqual(try LoRARankRule(maxRank: 8).resolvedEnergy(allFactorised: false), 1)
        XCTAssertEqual(try LoRARankRule(energy: 0.9).resolvedEnergy(allFactorised: true), 0.9)
        XCTAssertEqual(try LoRARankRule(energy: 0.9, maxRank: 4).maxRank, 4)
    }

    func testOutOfRangeValuesAreNamedErrors() {
        for bad in [0, -1, 1.5, .nan, .infinity] {
            XCTAssertThrowsError(try LoRARankRule(energy: bad)) { e in
                XCTAssertEqual(e as? ErasureError, .outOfRange(key: "energy", value: "\(bad)", allowed: "a fraction in (0, 1]"))
            }
        }
        for bad in [0, -3] {
            XCTAssertThrowsError(try LoRARankRule(maxRank: bad)) { e in
                XCTAssertEqual(e as? ErasureError, .outOfRange(key: "rank", value: "\(bad)", allowed: "at least 1"))
                XCTAssertTrue("\(e)".contains("rank is \(bad)"), "\(e)")
            }
        }
    }
}
