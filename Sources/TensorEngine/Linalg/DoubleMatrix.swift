import CBLAS

/// A dense, row-major matrix of Float64 values: the working type of the engine's LAPACK routines
/// (SVD, null spaces, Cholesky and LU solves), kept apart from the Float32 `Tensor` used for the
/// model so that decompositions are computed in double precision and rounded only at the end.
public struct DoubleMatrix: Equatable, Sendable, CustomStringConvertible {
    public let rows: Int
    public let cols: Int
    /// Elements in row-major order: element (i, j) is `values[i * cols + j]`.
    public private(set) var values: [Double]

    /// A matrix from row-major values; throws when `values.count != rows * cols` or a size is negative.
    public init(rows: Int, cols: Int, values: [Double]) throws {
        guard rows >= 0, cols >= 0, values.count == rows * cols else {
            throw LinalgError.shapeMismatch(
                operation: "DoubleMatrix(rows:cols:values:)",
                expected: "\(max(rows, 0) * max(cols, 0)) values for \(rows) x \(cols)",
                actual: "\(values.count) values")
        }
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// Internal initialiser for values whose count the caller has already established.
    init(uncheckedRows rows: Int, cols: Int, values: [Double]) {
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// A zero-filled `rows x cols` matrix.
    public init(zeros rows: Int, _ cols: Int) {
        precondition(rows >= 0 && cols >= 0, "DoubleMatrix(zeros:): negative size \(rows) x \(cols)")
        self.init(uncheckedRows: rows, cols: cols, values: [Double](repeating: 0, count: rows * cols))
    }

    /// A matrix whose element (i, j) is `element(i, j)`.
    public init(rows: Int, cols: Int, element: (Int, Int) -> Double) {
        precondition(rows >= 0 && cols >= 0, "DoubleMatrix(rows:cols:element:): negative size \(rows) x \(cols)")
        var v = [Double]()
        v.reserveCapacity(rows * cols)
        for i in 0..<rows { for j in 0..<cols { v.append(element(i, j)) } }
        self.init(uncheckedRows: rows, cols: cols, values: v)
    }

    /// The `n x n` identity matrix.
    public static func identity(_ n: Int) -> DoubleMatrix {
        DoubleMatrix(rows: n, cols: n) { i, j in i == j ? 1 : 0 }
    }

    /// Widens a rank-2 Float32 tensor `[rows, cols]`; throws for any other rank.
    public init(_ tensor: Tensor) throws {
        guard tensor.rank == 2 else {
            throw LinalgError.shapeMismatch(
                operation: "DoubleMatrix(Tensor)", expected: "a rank-2 tensor [rows, cols]",
                actual: "shape \(tensor.shape)")
        }
        let p = tensor.pointer
        self.init(
            uncheckedRows: tensor.shape[0], cols: tensor.shape[1],
            values: (0..<tensor.count).map { Double(p[$0]) })
    }

    /// The matrix rounded to a Float32 tensor of shape `[rows, cols]`.
    public func toTensor() -> Tensor {
        let t = Tensor(uninitialized: [rows, cols])
        let p = t.pointer
        for k in 0..<values.count { p[k] = Float(values[k]) }
        return t
    }

    public subscript(row: Int, col: Int) -> Double {
        get {
            precondition(
                row >= 0 && row < rows && col >= 0 && col < cols,
                "DoubleMatrix index (\(row), \(col)) out of range for \(rows) x \(cols)")
            return values[row * cols + col]
        }
        set {
            precondition(
                row >= 0 && row < rows && col >= 0 && col < cols,
                "DoubleMatrix index (\(row), \(col)) out of range for \(rows) x \(cols)")
            values[row * cols + col] = newValue
        }
    }

    /// Rows `range` as a new `range.count x cols` matrix.
    public func rows(_ range: Range<Int>) -> DoubleMatrix {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= rows,
            "DoubleMatrix.rows(\(range)) out of range for \(rows) rows")
        return DoubleMatrix(
            uncheckedRows: range.count, cols: cols,
            values: Array(values[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// Aᵀ (`cols x rows`).
    public var transposed: DoubleMatrix {
        var out = [Double](repeating: 0, count: values.count)
        for i in 0..<rows { for j in 0..<cols { out[j * rows + i] = values[i * cols + j] } }
        return DoubleMatrix(uncheckedRows: cols, cols: rows, values: out)
    }

    /// op(self) · op(other) via `cblas_dgemm`, where op transposes when the flag is set.
    /// Throws when the inner dimensions differ.
    public func multiplied(
        by other: DoubleMatrix, transposingSelf: Bool = false,
        transposingOther: Bool = false
    ) throws -> DoubleMatrix {
        let m = transposingSelf ? cols : rows
        let k = transposingSelf ? rows : cols
        let k2 = transposingOther ? other.cols : other.rows
        let n = transposingOther ? other.rows : other.cols
        guard k == k2 else {
            throw LinalgError.shapeMismatch(
                operation: "DoubleMatrix.multiplied", expected: "inner dimensions to agree",
                actual: "\(m) x \(k) times \(k2) x \(n) (self \(rows) x \(cols)\(transposingSelf ? "ᵀ" : ""), "
                    + "other \(other.rows) x \(other.cols)\(transposingOther ? "ᵀ" : ""))")
        }
        var out = [Double](repeating: 0, count: m * n)
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    guard let ap = a.baseAddress, let bp = b.baseAddress, let cp = c.baseAddress else { return }
                    BLAS.dgemm(
                        transA: transposingSelf, transB: transposingOther, m: m, n: n, k: k,
                        a: ap, lda: max(cols, 1), b: bp, ldb: max(other.cols, 1), c: cp, ldc: max(n, 1))
                }
            }
        }
        return DoubleMatrix(uncheckedRows: m, cols: n, values: out)
    }

    /// Elementwise `self - other`; throws when the shapes differ.
    public func subtracting(_ other: DoubleMatrix) throws -> DoubleMatrix {
        guard rows == other.rows, cols == other.cols else {
            throw LinalgError.shapeMismatch(
                operation: "DoubleMatrix.subtracting", expected: "\(rows) x \(cols)",
                actual: "\(other.rows) x \(other.cols)")
        }
        return DoubleMatrix(uncheckedRows: rows, cols: cols, values: zip(values, other.values).map { $0 - $1 })
    }

    /// ‖A‖_F = sqrt(Σ a_ij²), computed with `cblas_dnrm2` (scaled, so no overflow for large entries).
    public var frobeniusNorm: Double {
        guard !values.isEmpty else { return 0 }
        return values.withUnsafeBufferPointer { cblas_dnrm2(Int32(values.count), $0.baseAddress, 1) }
    }

    /// max |a_ij| (0 for an empty matrix).
    public var maxAbsoluteValue: Double {
        values.reduce(0) { Swift.max($0, abs($1)) }
    }

    /// Throws `nonFiniteInput` naming the first NaN or infinite element.
    public func checkFinite(operation: String) throws {
        if let k = values.firstIndex(where: { !$0.isFinite }) {
            throw LinalgError.nonFiniteInput(
                operation: operation, row: k / max(cols, 1), column: k % max(cols, 1),
                value: values[k])
        }
    }

    /// Throws `invalidArgument` when a dimension or the element count does not fit LAPACK's 32-bit integers.
    public func checkLAPACKSize(operation: String) throws {
        guard rows <= Int(Int32.max), cols <= Int(Int32.max), values.count <= Int(Int32.max) else {
            throw LinalgError.invalidArgument(
                operation: operation, argument: "matrix",
                reason: "is \(rows) x \(cols); LAPACK here takes at most "
                    + "\(Int32.max) elements and rows/cols")
        }
    }

    public var description: String {
        let preview = values.prefix(6).map { String(describing: $0) }.joined(separator: ", ")
        return "DoubleMatrix(\(rows) x \(cols), [\(preview)\(values.count > 6 ? ", ..." : "")])"
    }
}
