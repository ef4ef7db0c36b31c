import Foundation
import TensorEngine
import XCTest

extension SplitMix64 {
    /// Uniform in [-1, 1).
    mutating func uniform() -> Double { nextUnitDouble() * 2 - 1 }
}

private func randomMatrix(_ rows: Int, _ cols: Int, seed: UInt64) -> DoubleMatrix {
    var g = SplitMix64(seed: seed)
    return DoubleMatrix(rows: rows, cols: cols) { _, _ in g.uniform() }
}

/// max |M Sᵀ| / max |M|: how far the basis is from the null space, relative to M's scale.
private func relativeNullResidual(_ m: DoubleMatrix, _ s: DoubleMatrix) throws -> Double {
    try m.multiplied(by: s, transposingOther: true).maxAbsoluteValue / m.maxAbsoluteValue
}

/// max |S Sᵀ − I|: deviation of the rows of S from orthonormality.
private func orthonormalityError(_ s: DoubleMatrix) throws -> Double {
    try s.multiplied(by: s, transposingOther: true).subtracting(.identity(s.rows)).maxAbsoluteValue
}

final class LinalgTests: XCTestCase {
    // MARK: Null space, exact mode

    func testExactNullSpaceOfFullRankWideMatrix() throws {
        let m = randomMatrix(231, 768, seed: 1)
        let ns = try NullSpace.basis(of: m, mode: .exact)
        XCTAssertEqual(ns.rank, 231)
        XCTAssertEqual(ns.dimension, 768 - 231)
        XCTAssertEqual(ns.basis.cols, 768)
        XCTAssertEqual(ns.singularValues.count, 231)
        XCTAssertEqual(ns.cutoff, 768 * Double.ulpOfOne * ns.singularValues[0], "numpy matrix_rank threshold")
        XCTAssertEqual(ns.largestDiscardedSingularValue, 0, "no nonzero singular value was discarded")
        XCTAssertLessThan(try relativeNullResidual(m, ns.basis), 1e-10)
        XCTAssertLessThan(try orthonormalityError(ns.basis), 1e-12)
        XCTAssertEqual(ns.leakBound(forShiftNorm: 3), 0)
    }

    func testExactNullSpaceOfRankDeficientWideMatrix() throws {
        // Rank 150 by construction: (231 x 150)(150 x 768).
        let m = try randomMatrix(231, 150, seed: 2).multiplied(by: randomMatrix(150, 768, seed: 3))
        let ns = try NullSpace.basis(of: m, mode: .exact)
        XCTAssertEqual(ns.rank, 150)
        XCTAssertEqual(ns.dimension, 768 - 150)
        XCTAssertLessThan(try relativeNullResidual(m, ns.basis), 1e-10)
        XCTAssertLessThan(try orthonormalityError(ns.basis), 1e-12)
        // The discarded singular values are rounding noise, at most the cutoff.
        XCTAssertLessThanOrEqual(ns.largestDiscardedSingularValue, ns.cutoff)
        XCTAssertGreaterThan(ns.singularValues[149], 1e3 * ns.cutoff, "the rank-150 gap is clear")
    }

    func testExactNullSpaceOfTallMatrices() throws {
        // rows >= cols: thin SVD already gives a cols x cols Vᵀ.
        let deficient = try randomMatrix(300, 40, seed: 4).multiplied(by: randomMatrix(40, 100, seed: 5))
        let ns = try NullSpace.basis(of: deficient, mode: .exact)
        XCTAssertEqual(ns.rank, 40)
        XCTAssertEqual(ns.dimension, 60)
        XCTAssertLessThan(try relativeNullResidual(deficient, ns.basis), 1e-10)
        XCTAssertLessThan(try orthonormalityError(ns.basis), 1e-12)

        let fullColumnRank = randomMatrix(300, 100, seed: 6)
        let empty = try NullSpace.basis(of: fullColumnRank, mode: .exact)
        XCTAssertEqual(empty.rank, 100)
        XCTAssertEqual(empty.dimension, 0, "empty null space is reported, not thrown")
        XCTAssertEqual(empty.basis.cols, 100)
    }

    func testZeroMatrixAndNoRowsGiveTheWholeSpace() throws {
        for mode in [NullSpace.Mode.exact, .relativeTolerance(1e-6)] {
            let zero = DoubleMatrix(zeros: 5, 7)
            let ns = try NullSpace.basis(of: zero, mode: mode)
            XCTAssertEqual(ns.rank, 0)
            XCTAssertEqual(ns.dimension, 7)
            XCTAssertEqual(ns.largestDiscardedSingularValue, 0)
            XCTAssertLessThan(try orthonormalityError(ns.basis), 1e-12)

            let noRows = try NullSpace.basis(of: DoubleMatrix(zeros: 0, 7), mode: mode)
            XCTAssertEqual(noRows.dimension, 7)
            XCTAssertLessThan(try orthonormalityError(noRows.basis), 1e-12)
        }
    }

    // MARK: Null space, tolerance mode (method.md §4)

    func testToleranceModeOnKnownSpectrum() throws {
        // M = U diag(s) Vᵀ with orthonormal U (231 x 231), V (768 x 231) taken from SVDs of random
        // matrices, and a chosen spectrum: 200 values from 1 down to 1e-2, then 31 from 5e-9 to 1e-9.
        let u = try SVD(randomMatrix(231, 231, seed: 7)).u
        let vt = try SVD(randomMatrix(231, 768, seed: 8)).vt
        let large = (0..<200).map { pow(10, -2 * Double($0) / 199) }
        let tiny = (0..<31).map { 5e-9 * pow(0.2, Double($0) / 30) }
        let s = large + tiny
        let us = DoubleMatrix(rows: 231, cols: 231) { i, j in u[i, j] * s[j] }
        let m = try us.multiplied(by: vt)

        let ns = try NullSpace.basis(of: m, mode: .relativeTolerance(1e-6))
        XCTAssertEqual(ns.rank, 200)
        XCTAssertEqual(ns.dimension, 768 - 200)
        XCTAssertEqual(ns.cutoff, 1e-6, accuracy: 1e-15)
        XCTAssertEqual(ns.largestDiscardedSingularValue, 5e-9, accuracy: 5e-9 * 1e-5)
        XCTAssertLessThan(try orthonormalityError(ns.basis), 1e-12)
        for (computed, chosen) in zip(ns.singularValues, s) {
            XCTAssertEqual(computed, chosen, accuracy: 1e-13)
        }

        // The bound holds for a random shift ΔW = A·S in the span (Frobenius norms) ...
        let a = randomMatrix(16, ns.dimension, seed: 9)
        let dW = try a.multiplied(by: ns.basis)
        let leak = try m.multiplied(by: dW, transposingOther: true).frobeniusNorm
        let bound = ns.leakBound(forShiftNorm: dW.frobeniusNorm)
        XCTAssertLessThanOrEqual(leak, bound * (1 + 1e-9))
        XCTAssertGreaterThan(leak, 1e-3 * bound, "the leak is real, so the check above is not vacuous")
        // ... and is attained along the direction of σ_cut (basis row 0).
        let worst = try m.multiplied(by: ns.basis.rows(0..<1), transposingOther: true).frobeniusNorm
        XCTAssertEqual(worst, ns.leakBound(forShiftNorm: 1), accuracy: 5e-9 * 1e-5)

        // Exact mode keeps the tiny values: they are far above 768·eps·σ_max.
        let exact = try NullSpace.basis(of: m, mode: .exact)
        XCTAssertEqual(exact.rank, 231)
        XCTAssertEqual(exact.dimension, 768 - 231)
    }

    func testToleranceMustBeFiniteAndNonNegative() {
        let m = randomMatrix(3, 5, seed: 10)
        for bad in [-1e-6, Double.nan, Double.infinity] {
            XCTAssertThrowsError(try NullSpace.basis(of: m, mode: .relativeTolerance(bad))) { error in
                guard case .invalidArgument(_, "relativeTolerance", _)? = error as? LinalgError else {
                    return XCTFail("unexpected error \(error)")
                }
            }
        }
    }

    // MARK: SVD

    func testSVDReconstructsAndIsOrthonormal() throws {
        for (rows, cols, seed) in [(231, 768, UInt64(11)), (40, 25, 12), (17, 17, 13)] {
            let m = randomMatrix(rows, cols, seed: seed)
            for kind in [SVD.Kind.thin, .full] {
                let svd = try SVD(m, kind: kind)
                let k = min(rows, cols)
                XCTAssertEqual(svd.u.rows, rows)
                XCTAssertEqual(svd.u.cols, kind == .full ? rows : k)
                XCTAssertEqual(svd.vt.rows, kind == .full ? cols : k)
                XCTAssertEqual(svd.vt.cols, cols)
                XCTAssertEqual(svd.routine, "dgesdd")
                let error = try svd.reconstructed().subtracting(m).maxAbsoluteValue / m.maxAbsoluteValue
                XCTAssertLessThan(error, 1e-12, "\(rows) x \(cols) \(kind)")
                XCTAssertLessThan(try orthonormalityError(svd.u.transposed), 1e-12)
                XCTAssertLessThan(try orthonormalityError(svd.vt), 1e-12)
                XCTAssertTrue(zip(svd.singularValues, svd.singularValues.dropFirst()).allSatisfy { $0 >= $1 })
                XCTAssertGreaterThan(svd.singularValues.last!, 0)
                // Frobenius norm equals the root sum of squared singular values.
                let fromS = sqrt(svd.singularValues.reduce(0) { $0 + $1 * $1 })
                XCTAssertEqual(fromS, m.frobeniusNorm, accuracy: 1e-12 * fromS)
            }
        }
    }

    func testQRIterationDriverAgreesWithDivideAndConquer() throws {
        // The dgesvd fallback path, run directly (dgesdd non-convergence cannot be provoked on demand).
        for (rows, cols) in [(60, 150), (150, 60)] {
            let m = randomMatrix(rows, cols, seed: UInt64(rows * 1000 + cols))
            for kind in [SVD.Kind.thin, .full] {
                let qr = try SVD(m, kind: kind, driver: .qrIteration)
                let dc = try SVD(m, kind: kind)
                XCTAssertEqual(qr.routine, "dgesvd")
                XCTAssertEqual(
                    [qr.u.rows, qr.u.cols, qr.vt.rows, qr.vt.cols],
                    [dc.u.rows, dc.u.cols, dc.vt.rows, dc.vt.cols])
                for (x, y) in zip(qr.singularValues, dc.singularValues) { XCTAssertEqual(x, y, accuracy: 1e-12) }
                let error = try qr.reconstructed().subtracting(m).maxAbsoluteValue / m.maxAbsoluteValue
                XCTAssertLessThan(error, 1e-12)
                XCTAssertLessThan(try orthonormalityError(qr.u.transposed), 1e-12)
                XCTAssertLessThan(try orthonormalityError(qr.vt), 1e-12)
            }
        }
    }

    func testSVDRejectsNonFiniteInput() {
        var m = randomMatrix(4, 6, seed: 14)
        m[2, 3] = .nan
        XCTAssertThrowsError(try SVD(m)) { error in
            guard case let .nonFiniteInput(_, row, column, _)? = error as? LinalgError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual([row, column], [2, 3])
        }
        XCTAssertThrowsError(try NullSpace.basis(of: m, mode: .exact))
    }

    // MARK: Cholesky and general solves

    func testCholeskyFactorsAndSolvesSPDSystem() throws {
        let x = randomMatrix(60, 40, seed: 15)
        var a = try x.multiplied(by: x, transposingSelf: true)  // XᵀX: 40 x 40, SPD
        a = DoubleMatrix(rows: 40, cols: 40) { i, j in (a[i, j] + a[j, i]) / 2 + (i == j ? 1 : 0) }
        let chol = try Cholesky(a)
        let l = chol.lower
        for i in 0..<40 { for j in (i + 1)..<40 { XCTAssertEqual(l[i, j], 0) } }
        for i in 0..<40 { XCTAssertGreaterThan(l[i, i], 0) }
        let llt = try l.multiplied(by: l, transposingOther: true)
        XCTAssertLessThan(try llt.subtracting(a).maxAbsoluteValue / a.maxAbsoluteValue, 1e-13)

        let b = randomMatrix(40, 3, seed: 16)
        let solution = try chol.solve(b)
        let residual = try a.multiplied(by: solution).subtracting(b).maxAbsoluteValue
        XCTAssertLessThan(residual / (a.maxAbsoluteValue * solution.maxAbsoluteValue), 1e-13)
        XCTAssertEqual(try Cholesky.solve(a, b), solution)
    }

    func testCholeskyRejectsIndefiniteAndAsymmetricMatrices() throws {
        // Leading minors 1 and 1 - 4 = -3: fails at order 2.
        let indefinite = try DoubleMatrix(rows: 2, cols: 2, values: [1, 2, 2, 1])
        XCTAssertThrowsError(try Cholesky(indefinite)) { error in
            XCTAssertEqual(error as? LinalgError, .notPositiveDefinite(operation: "Cholesky", order: 2))
            XCTAssertTrue("\(error)".contains("order 2"))
        }
        let asymmetric = try DoubleMatrix(rows: 2, cols: 2, values: [4, 1, 0, 4])
        XCTAssertThrowsError(try Cholesky(asymmetric)) { error in
            guard case .notSymmetric(_, 0, 1, _)? = error as? LinalgError else {
                return XCTFail("unexpected error \(error)")
            }
        }
        XCTAssertThrowsError(try Cholesky(DoubleMatrix(zeros: 2, 3)))
    }

    func testGeneralSolveAndSingularPivot() throws {
        let a = randomMatrix(50, 50, seed: 17)
        let b = randomMatrix(50, 2, seed: 18)
        let x = try LinearSystem.solve(a, b)
        let residual = try a.multiplied(by: x).subtracting(b).maxAbsoluteValue
        XCTAssertLessThan(residual / (a.maxAbsoluteValue * x.maxAbsoluteValue), 1e-12)

        // Second row is twice the first: partial pivoting swaps them, elimination leaves U(2,2) = 0 exactly.
        let singular = try DoubleMatrix(rows: 2, cols: 2, values: [1, 2, 2, 4])
        XCTAssertThrowsError(try LinearSystem.solve(singular, DoubleMatrix(zeros: 2, 1))) { error in
            XCTAssertEqual(error as? LinalgError, .singular(operation: "LinearSystem.solve", pivot: 2))
        }
        XCTAssertThrowsError(try LinearSystem.solve(a, DoubleMatrix(zeros: 49, 1)))
    }

    // MARK: DoubleMatrix basics

    func testMatrixBasicsAndTensorRoundTrip() throws {
        let a = randomMatrix(7, 5, seed: 19)
        let b = randomMatrix(5, 3, seed: 20)
        XCTAssertEqual(try a.multiplied(by: .identity(5)), a)
        let ab = try a.multiplied(by: b)
        let btat = try b.transposed.multiplied(by: a.transposed)
        XCTAssertLessThan(try ab.transposed.subtracting(btat).maxAbsoluteValue, 1e-15)
        // One product entry summed by hand.
        let entry = (0..<5).reduce(0.0) { $0 + a[2, $1] * b[$1, 1] }
        XCTAssertEqual(ab[2, 1], entry, accuracy: 1e-15)
        XCTAssertEqual(a.frobeniusNorm, sqrt(a.values.reduce(0) { $0 + $1 * $1 }), accuracy: 1e-14)
        XCTAssertThrowsError(try a.multiplied(by: a))
        XCTAssertThrowsError(try DoubleMatrix(rows: 2, cols: 2, values: [1, 2, 3]))

        let t = Tensor([1, -2.5, 3, 0.125, 5, 6], shape: [2, 3])
        let d = try DoubleMatrix(t)
        XCTAssertEqual([d.rows, d.cols], [2, 3])
        XCTAssertEqual(d[1, 0], 0.125)
        let back = d.toTensor()
        XCTAssertEqual(back.shape, [2, 3])
        XCTAssertEqual(back.scalars, t.scalars)
        XCTAssertThrowsError(try DoubleMatrix(Tensor(zeros: [2, 3, 4])))
    }

    // MARK: Timing (printed, not asserted)

    func testPrintNullSpaceTiming() throws {
        // Wall time depends on machine load; process CPU time (all BLAS threads) is printed too.
        func cpuNanoseconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
        }
        let m = randomMatrix(231, 768, seed: 21)
        var bestWall = Double.infinity
        var bestCPU = Double.infinity
        for _ in 0..<5 {
            let wall = DispatchTime.now().uptimeNanoseconds
            let cpu = cpuNanoseconds()
            _ = try NullSpace.basis(of: m, mode: .exact)
            bestCPU = min(bestCPU, (cpuNanoseconds() - cpu) / 1e6)
            bestWall = min(bestWall, Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e6)
        }
        print(
            "LinalgTests timing: NullSpace.basis(231 x 768, exact) best of 5: wall "
                + String(format: "%.1f ms, process CPU %.1f ms", bestWall, bestCPU))
    }
}
