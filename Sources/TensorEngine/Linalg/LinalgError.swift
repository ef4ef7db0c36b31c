/// Why a double-precision linear-algebra routine refused its input or failed.
///
/// Every case names the operation (and, where there is one, the LAPACK routine) so that a caller
/// several layers up can report which step of, say, a null-space computation went wrong.
public enum LinalgError: Error, CustomStringConvertible, Equatable {
    /// An element is NaN or infinite; LAPACK results on such input are meaningless.
    case nonFiniteInput(operation: String, row: Int, column: Int, value: Double)
    /// Operand shapes do not fit together, or a value count does not fill the stated shape.
    case shapeMismatch(operation: String, expected: String, actual: String)
    /// An argument outside its allowed range (for example a negative tolerance).
    case invalidArgument(operation: String, argument: String, reason: String)
    /// The SVD iteration did not converge in either LAPACK driver (`info` of the last one tried).
    case svdDidNotConverge(routine: String, info: Int)
    /// The leading minor of this order (1-based) is not positive, so the matrix is not positive definite.
    case notPositiveDefinite(operation: String, order: Int)
    /// The matrix handed to a symmetric solver is not symmetric (largest mismatch reported, 0-based).
    case notSymmetric(operation: String, row: Int, column: Int, difference: Double)
    /// LU factorisation found U(pivot, pivot) exactly zero (1-based pivot), so the matrix is singular.
    case singular(operation: String, pivot: Int)
    /// Any other nonzero LAPACK `info` (negative: argument `-info` was illegal; -1010: out of memory).
    case lapackFailure(routine: String, info: Int)

    public var description: String {
        switch self {
        case let .nonFiniteInput(operation, row, column, value):
            return "\(operation): input element (\(row), \(column)) is \(value); expected finite values"
        case let .shapeMismatch(operation, expected, actual):
            return "\(operation): expected \(expected), got \(actual)"
        case let .invalidArgument(operation, argument, reason):
            return "\(operation): argument '\(argument)' \(reason)"
        case let .svdDidNotConverge(routine, info):
            return "SVD: \(routine) did not converge (info \(info): \(info) superdiagonals did not reach zero)"
        case let .notPositiveDefinite(operation, order):
            return "\(operation): matrix is not positive definite (leading minor of order \(order) "
                + "is not positive; dpotrf info \(order))"
        case let .notSymmetric(operation, row, column, difference):
            return "\(operation): matrix is not symmetric (|A[\(row),\(column)] - A[\(column),\(row)]| = "
                + "\(difference))"
        case let .singular(operation, pivot):
            return "\(operation): matrix is singular (pivot U(\(pivot),\(pivot)) is exactly zero; dgesv info \(pivot))"
        case let .lapackFailure(routine, info):
            let meaning: String
            if info == -1010 {
                meaning = "LAPACKE could not allocate its workspace"
            } else if info < 0 {
                meaning = "argument \(-info) had an illegal value"
            } else {
                meaning = "computation failed"
            }
            return "\(routine) returned info \(info): \(meaning)"
        }
    }
}
