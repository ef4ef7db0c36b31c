import CBLAS

/// Singular value decomposition A = U · diag(s) · Vᵀ of a `rows x cols` matrix in double precision,
/// via LAPACK `dgesdd` (divide and conquer), falling back to `dgesvd` (QR iteration) when `dgesdd`
/// reports non-convergence. Matches `numpy.linalg.svd(A, full_matrices=...)` up to signs of
/// singular-vector pairs.
///
/// Layout trick: a row-major `rows x cols` buffer is the column-major `cols x rows` matrix Aᵀ.
/// LAPACK factors Aᵀ = U' Σ V'ᵀ, so A = V' Σ U'ᵀ; the column-major U' buffer is Vᵀ in row-major
/// order and the column-major V'ᵀ buffer is U in row-major order. No transposed copies are made.
public struct SVD: Sendable {
    /// Which factors to compute, as in LAPACK's `jobz`.
    public enum Kind: Sendable {
        /// k = min(rows, cols): U is `rows x k`, Vᵀ is `k x cols` (`jobz = 'S'`).
        case thin
        /// U is `rows x rows`, Vᵀ is `cols x cols`; the extra rows of Vᵀ span the null space (`jobz = 'A'`).
        case full
    }

    /// Left singular vectors as columns: `rows x rows` (full) or `rows x min(rows, cols)` (thin).
    public let u: DoubleMatrix
    /// min(rows, cols) singular values, descending, non-negative.
    public let singularValues: [Double]
    /// Right singular vectors as rows: `cols x cols` (full) or `min(rows, cols) x cols` (thin).
    public let vt: DoubleMatrix
    /// The LAPACK driver that produced this result (`"dgesdd"`, `"dgesvd"`, or `"none"` for an empty matrix).
    public let routine: String

    /// Which LAPACK driver to start with.
    public enum Driver: Sendable {
        /// `dgesdd`, falling back to `dgesvd` if it does not converge (the default).
        case divideAndConquer
        /// `dgesvd` only (slower; used as the fallback, selectable so that path can be tested).
        case qrIteration
    }

    /// Decomposes `a`. Throws `nonFiniteInput` for NaN/Inf elements, `svdDidNotConverge` when both
    /// drivers fail to converge, and `lapackFailure` for any other LAPACK error.
    public init(_ a: DoubleMatrix, kind: Kind = .thin, driver: Driver = .divideAndConquer) throws {
        try a.checkLAPACKSize(operation: "SVD")
        try a.checkFinite(operation: "SVD")
        let rows = a.rows
        let cols = a.cols
        let k = min(rows, cols)
        // Column-major view: m' = cols, n' = rows (see the type comment).
        let mP = cols
        let nP = rows
        let uPCols = kind == .full ? mP : k  // U' is mP x uPCols
        let vtPRows = kind == .full ? nP : k  // V'ᵀ is vtPRows x nP

        if k == 0 {
            // Empty matrix: no singular values; full factors are identities, thin ones are empty.
            u = kind == .full ? .identity(rows) : DoubleMatrix(zeros: rows, 0)
            vt = kind == .full ? .identity(cols) : DoubleMatrix(zeros: 0, cols)
            singularValues = []
            routine = "none"
            return
        }

        var s = [Double](repeating: 0, count: k)
        var uP = [Double](repeating: 0, count: mP * uPCols)
        var vtP = [Double](repeating: 0, count: vtPRows * nP)
        var work = a.values
        let jobz: CChar = kind == .full ? CChar(UInt8(ascii: "A")) : CChar(UInt8(ascii: "S"))
        var info: Int32 =
            driver == .qrIteration
            ? 1
            : work.withUnsafeMutableBufferPointer { ap in
                s.withUnsafeMutableBufferPointer { sp in
                    uP.withUnsafeMutableBufferPointer { up in
                        vtP.withUnsafeMutableBufferPointer { vp in
                            LAPACKE_dgesdd(
                                LAPACK_COL_MAJOR, jobz, Int32(mP), Int32(nP), ap.baseAddress, Int32(mP),
                                sp.baseAddress, up.baseAddress, Int32(mP), vp.baseAddress,
                                Int32(vtPRows))
                        }
                    }
                }
            }
        var used = "dgesdd"
        if info > 0 {
            // dgesdd's bidiagonal divide and conquer did not converge (or dgesvd was asked for):
            // run QR iteration on a fresh copy.
            work = a.values
            var superb = [Double](repeating: 0, count: max(k - 1, 1))
            info = work.withUnsafeMutableBufferPointer { ap in
                s.withUnsafeMutableBufferPointer { sp in
                    uP.withUnsafeMutableBufferPointer { up in
                        vtP.withUnsafeMutableBufferPointer { vp in
                            superb.withUnsafeMutableBufferPointer { wp in
                                LAPACKE_dgesvd(
                                    LAPACK_COL_MAJOR, jobz, jobz, Int32(mP), Int32(nP), ap.baseAddress,
                                    Int32(mP), sp.baseAddress, up.baseAddress, Int32(mP),
                                    vp.baseAddress, Int32(vtPRows), wp.baseAddress)
                            }
                        }
                    }
                }
            }
            used = "dgesvd"
            if info > 0 { throw LinalgError.svdDidNotConverge(routine: "dgesdd and dgesvd", info: Int(info)) }
        }
        if info < 0 { throw LinalgError.lapackFailure(routine: used, info: Int(info)) }

        // Column-major V'ᵀ (vtPRows x rows) is row-major U (rows x vtPRows);
        // column-major U' (cols x uPCols) is row-major Vᵀ (uPCols x cols).
        u = DoubleMatrix(uncheckedRows: rows, cols: vtPRows, values: vtP)
        vt = DoubleMatrix(uncheckedRows: uPCols, cols: cols, values: uP)
        singularValues = s
        routine = used
    }

    /// U · diag(s) · Vᵀ restricted to the first min(rows, cols) singular triplets (equals A up to rounding).
    public func reconstructed() throws -> DoubleMatrix {
        let k = singularValues.count
        var us = DoubleMatrix(rows: u.rows, cols: k) { i, j in u[i, j] * singularValues[j] }
        us = try us.multiplied(by: vt.rows(0..<k))
        return us
    }
}
