/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, deterministic generator for things that need
/// reproducible randomness but not PyTorch's exact stream (benchmark weights, test inputs).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An index in 0..<max(n, 1) (modulo reduction: a negligible bias for the small n of test cases).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
