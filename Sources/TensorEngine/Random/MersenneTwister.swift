/// The 32-bit Mersenne Twister (MT19937) with PyTorch's seeding.
///
/// Matches `at::mt19937` (aten/src/ATen/core/MT19937RNGEngine.h): the state is initialised from the
/// low 32 bits of the 64-bit seed with Knuth's multiplier 1812433253 (the reference `init_genrand`),
/// the first draw regenerates the whole 624-word block, and every output is tempered. Its output
/// stream therefore equals `std::mt19937(seed & 0xffff_ffff)` and NumPy's legacy `RandomState(seed)`.
public struct MersenneTwister: Sendable {
    static let stateSize = 624
    static let shiftSize = 397
    static let matrixA: UInt32 = 0x9908_b0df
    static let upperMask: UInt32 = 0x8000_0000
    static let lowerMask: UInt32 = 0x7fff_ffff

    /// The seed as given; only its low 32 bits reach the state (PyTorch keeps the full value).
    public let seed: UInt64
    private var state: [UInt32]
    /// Index of the next word of `state` to temper and return; `stateSize` means "regenerate first".
    private var nextIndex: Int

    /// Seeds the state from `seed & 0xffff_ffff`, like `at::mt19937::init_with_uint32`.
    public init(seed: UInt64) {
        self.seed = seed
        var words = [UInt32](repeating: 0, count: Self.stateSize)
        words[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            let previous = words[j - 1]
            words[j] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(j)
        }
        state = words
        nextIndex = Self.stateSize
    }

    /// The next tempered 32-bit output (`at::mt19937::operator()`).
    public mutating func next() -> UInt32 {
        if nextIndex >= Self.stateSize { regenerate() }
        var y = state[nextIndex]
        nextIndex += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// Twists all 624 words at once (the reference `next_state`).
    private mutating func regenerate() {
        let n = Self.stateSize
        let m = Self.shiftSize
        state.withUnsafeMutableBufferPointer { s in
            for k in 0..<n {
                let mixed = (s[k] & Self.upperMask) | (s[(k + 1) % n] & Self.lowerMask)
                let twisted = (mixed >> 1) ^ ((mixed & 1) != 0 ? Self.matrixA : 0)
                s[k] = s[(k + m) % n] ^ twisted
            }
        }
        nextIndex = 0
    }
}
