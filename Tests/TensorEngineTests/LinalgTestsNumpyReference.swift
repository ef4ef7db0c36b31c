import Foundation
import TensorEngine
import XCTest

/// numpy/scipy reference values from scripts/make_linalg_fixture.py
/// (Resources/linalg_reference.json, 14 KB).
private struct LinalgReference: Decodable {
    struct NullSpaceCase: Decodable {
        let rows: Int, cols: Int, values: [Double], singularValues: [Double], matrixRank: Int
        let nullProjector: [Double]
    }
    struct CholeskyCase: Decodable { let n: Int, a: [Double], b: [Double], lower: [Double], solution: [Double] }
    struct GeneralCase: Decodable { let n: Int, a: [Double], b: [Double], solution: [Double] }
    let nullSpace: NullSpaceCase
    let cholesky: CholeskyCase
    let general: GeneralCase

    static func load() throws -> LinalgReference {
        guard
            let url = Bundle.module.url(
                forResource: "linalg_reference", withExtension: "json",
                subdirectory: "Resources")
        else {
            throw LinalgError.invalidArgument(
                operation: "LinalgReference.load", argument: "linalg_reference.json",
                reason: "is missing from the test bundle's Resources")
        }
        return try JSONDecoder().decode(LinalgReference.self, from: Data(contentsOf: url))
    }
}

private func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

final class LinalgTestsNumpyReference: XCTestCase {
    func testNullSpaceMatchesNumpyAndScipy() throws {
        let ref = try LinalgReference.load().nullSpace
        let m = try DoubleMatrix(rows: ref.rows, cols: ref.cols, values: ref.values)
        let ns = try NullSpace.basis(of: m, mode: .exact)
        XCTAssertEqual(ns.rank, ref.matrixRank, "numpy.linalg.matrix_rank")
        XCTAssertEqual(ns.dimension, ref.cols - ref.matrixRank)
        // Rank-6 matrix: the trailing computed singular values are rounding noise in both libraries.
        XCTAssertLessThan(maxDifference(ns.singularValues, ref.singularValues), 1e-12 * ref.singularValues[0])
        // Same subspace as scipy.linalg.null_space: compare orthogonal projectors S^T S.
        let projector = try ns.basis.multiplied(by: ns.basis, transposingSelf: true)
        XCTAssertLessThan(maxDifference(projector.values, ref.nullProjector), 1e-12)
    }

    func testCholeskyAndSolvesMatchNumpy() throws {
        let ref = try LinalgReference.load()
        let c = ref.cholesky
        let a = try DoubleMatrix(rows: c.n, cols: c.n, values: c.a)
        let b = try DoubleMatrix(rows: c.n, cols: 2, values: c.b)
        let chol = try Cholesky(a)
        XCTAssertLessThan(maxDifference(chol.lower.values, c.lower), 1e-12)
        XCTAssertLessThan(maxDifference(try chol.solve(b).values, c.solution), 1e-12)

        let g = ref.general
        let x = try LinearSystem.solve(
            DoubleMatrix(rows: g.n, cols: g.n, values: g.a),
            DoubleMatrix(rows: g.n, cols: 2, values: g.b))
        XCTAssertLessThan(maxDifference(x.values, g.solution), 1e-11)
    }
}
