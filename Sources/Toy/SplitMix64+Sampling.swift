import TensorEngine

/// Integer-only draws on TensorEngine's SplitMix64, so the toy data set is identical on every
/// platform and Swift version; one generator per (seed, index) pair gives random access to samples.
extension SplitMix64 {
    /// A generator for item `index` of the stream `seed`: both are mixed so nearby seeds and indices
    /// give unrelated sequences.
    public init(seed: UInt64, index: UInt64) {
        var mixer = SplitMix64(seed: seed ^ 0x5EED_70E5_D47A_0001)
        let a = mixer.next()
        self.init(seed: a ^ (index &* 0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
        _ = next()
    }

    /// A uniform integer in `range` (multiply-shift reduction of the high 32 bits; exact and portable).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound + 1)
        return range.lowerBound + Int(((next() >> 32) &* span) >> 32)
    }

    /// A uniform integer in 0..<n.
    public mutating func int(below n: Int) -> Int { int(in: 0...(n - 1)) }

    /// True with probability `numerator / denominator`.
    public mutating func chance(_ numerator: Int, in denominator: Int) -> Bool { int(below: denominator) < numerator }
}
