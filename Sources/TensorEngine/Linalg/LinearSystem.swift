import CBLAS

/// General square linear systems A·X = B by LU factorisation with partial pivoting (LAPACK `dgesv`),
/// as `numpy.linalg.solve`. For symmetric positive definite A prefer `Cholesky.solve`.
public enum LinearSystem {
    /// X (`n x nrhs`) with A·X = B. Throws `shapeMismatch` (A not square, B's rows ≠ n),
    /// `nonFiniteInput`, and `singular` naming the 1-based pivot U(i, i) that is exactly zero.
    public static func solve(_ a: DoubleMatrix, _ b: DoubleMatrix) throws -> DoubleMatrix {
        let op = "LinearSystem.solve"
        guard a.rows == a.cols else {
            throw LinalgError.shapeMismatch(
                operation: op, expected: "a square coefficient matrix",
                actual: "\(a.rows) x \(a.cols)")
        }
        let n = a.rows
        guard b.rows == n else {
            throw LinalgError.shapeMismatch(
                operation: op, expected: "right-hand side with \(n) rows",
                actual: "\(b.rows) x \(b.cols)")
        }
        try a.checkLAPACKSize(operation: op + " (A)")
        try b.checkLAPACKSize(operation: op + " (B)")
        try a.checkFinite(operation: op + " (A)")
        try b.checkFinite(operation: op + " (B)")
        guard n > 0, b.cols > 0 else { return b }
        // Column-major Aᵀ is our row-major A buffer: solve with transposed layout by copying A to
        // column-major explicitly (dgesv has no transpose flag).
        var lu = a.transposed.values
        var x = b.transposed.values
        var pivots = [Int32](repeating: 0, count: n)
        let info = lu.withUnsafeMutableBufferPointer { ap in
            pivots.withUnsafeMutableBufferPointer { pp in
                x.withUnsafeMutableBufferPointer { xp in
                    LAPACKE_dgesv(
                        LAPACK_COL_MAJOR, Int32(n), Int32(b.cols), ap.baseAddress, Int32(n),
                        pp.baseAddress, xp.baseAddress, Int32(n))
                }
            }
        }
        if info > 0 { throw LinalgError.singular(operation: op, pivot: Int(info)) }
        if info < 0 { throw LinalgError.lapackFailure(routine: "dgesv", info: Int(info)) }
        return DoubleMatrix(uncheckedRows: b.cols, cols: n, values: x).transposed
    }
}
