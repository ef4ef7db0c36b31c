/// How far a reduced-precision result is from its fp32 reference, in the two figures sepme states
/// for `--precision bf16` (docs/benchmarks.md): the largest absolute difference relative to the
/// reference's largest magnitude, and the RMS of the difference relative to the reference's RMS.
public struct PrecisionDeviation: Equatable, Sendable {
    /// max |result − reference|
    public let largestDifference: Float
    /// max |result − reference| / max |reference|
    public let largestRelative: Float
    /// RMS(result − reference) / RMS(reference)
    public let rmsRatio: Double

    /// `result` against `reference`, element by element (the same shape).
    public init(of result: Tensor, from reference: Tensor) {
        precondition(result.shape == reference.shape, "PrecisionDeviation: shapes \(result.shape) and \(reference.shape) differ")
        var worst: Float = 0
        var largest: Float = 0
        var squared = 0.0
        var norm = 0.0
        for i in 0..<reference.count {
            let d = result.pointer[i] - reference.pointer[i]
            worst = max(worst, abs(d))
            largest = max(largest, abs(reference.pointer[i]))
            squared += Double(d * d)
            norm += Double(reference.pointer[i] * reference.pointer[i])
        }
        largestDifference = worst
        largestRelative = worst / max(largest, 1e-30)
        rmsRatio = (squared / max(norm, 1e-30)).squareRoot()
    }
}
