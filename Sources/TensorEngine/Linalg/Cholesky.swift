import CBLAS

/// Cholesky factorisation A = L·Lᵀ of a symmetric positive definite matrix (LAPACK `dpotrf`),
/// and solves A·X = B with it (`dpotrs`). Matches `numpy.linalg.cholesky` (lower factor).
public struct Cholesky: Sendable {
    /// L: `n x n` lower triangular with positive diagonal; the strict upper triangle is zero.
    public let lower: DoubleMatrix

    /// Relative asymmetry |a_ij − a_ji| / max|a| above which the input is rejected as not symmetric.
    public static let symmetryTolerance = 1e-10

    public var order: Int { lower.rows }

    /// Factors `a`. Throws `shapeMismatch` for a non-square matrix, `nonFiniteInput`, `notSymmetric`
    /// (relative asymmetry above `symmetryTolerance`), and `notPositiveDefinite` naming the order of
    /// the first leading minor that is not positive.
    public init(_ a: DoubleMatrix) throws {
        let op = "Cholesky"
        guard a.rows == a.cols else {
            throw LinalgError.shapeMismatch(operation: op, expected: "a square matrix", actual: "\(a.rows) x \(a.cols)")
        }
        try a.checkLAPACKSize(operation: op)
        try a.checkFinite(operation: op)
        try Cholesky.checkSymmetric(a, operation: op)
        let n = a.rows
        var l = a.values
        if n > 0 {
            // Row-major lower triangle = column-major upper triangle of the same buffer; since A is
            // symmetric, factoring the column-major 'U' part as UᵀU gives row-major L = Uᵀ.
            let info = l.withUnsafeMutableBufferPointer {
                LAPACKE_dpotrf(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), $0.baseAddress, Int32(n))
            }
            if info > 0 { throw LinalgError.notPositiveDefinite(operation: op, order: Int(info)) }
            if info < 0 { throw LinalgError.lapackFailure(routine: "dpotrf", info: Int(info)) }
            for i in 0..<n { for j in (i + 1)..<n { l[i * n + j] = 0 } }
        }
        lower = DoubleMatrix(uncheckedRows: n, cols: n, values: l)
    }

    /// X with A·X = B for the factored A (`b`: `n x nrhs`).
    public func solve(_ b: DoubleMatrix) throws -> DoubleMatrix {
        let op = "Cholesky.solve"
        let n = order
        guard b.rows == n else {
            throw LinalgError.shapeMismatch(
                operation: op, expected: "right-hand side with \(n) rows",
                actual: "\(b.rows) x \(b.cols)")
        }
        try b.checkLAPACKSize(operation: op)
        try b.checkFinite(operation: op)
        guard n > 0, b.cols > 0 else { return b }
        // The factor is passed as column-major 'U' (= row-major L), the layout dpotrf produced.
        var x = b.transposed.values  // B in column-major order (n x nrhs)
        let info = lower.values.withUnsafeBufferPointer { lp in
            x.withUnsafeMutableBufferPointer { xp in
                LAPACKE_dpotrs(
                    LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), Int32(b.cols),
                    lp.baseAddress, Int32(n), xp.baseAddress, Int32(n))
            }
        }
        if info != 0 { throw LinalgError.lapackFailure(routine: "dpotrs", info: Int(info)) }
        return DoubleMatrix(uncheckedRows: b.cols, cols: n, values: x).transposed
    }

    /// Solves the SPD system A·X = B in one call (factor, then solve).
    public static func solve(_ a: DoubleMatrix, _ b: DoubleMatrix) throws -> DoubleMatrix {
        try Cholesky(a).solve(b)
    }

    static func checkSymmetric(_ a: DoubleMatrix, operation: String) throws {
        let n = a.rows
        let scale = a.maxAbsoluteValue
        var worst = (row: 0, col: 0, diff: 0.0)
        for i in 0..<n {
            for j in (i + 1)..<n {
                let d = abs(a.values[i * n + j] - a.values[j * n + i])
                if d > worst.diff { worst = (i, j, d) }
            }
        }
        if worst.diff > symmetryTolerance * scale {
            throw LinalgError.notSymmetric(
                operation: operation, row: worst.row, column: worst.col,
                difference: worst.diff)
        }
    }
}
