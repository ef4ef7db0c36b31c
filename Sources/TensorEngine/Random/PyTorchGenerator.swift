import Foundation

/// A random source that reproduces PyTorch's CPU generator (`torch.Generator()` on the CPU) bit for bit.
///
/// `PyTorchGenerator(seed: s)` behaves like `torch.Generator().manual_seed(s)` (CPUGeneratorImpl.cpp):
/// an MT19937 engine seeded from the low 32 bits of `s` plus the cached second Box-Muller sample
/// of `normal_distribution<double>`. Each method matches one PyTorch call on a float32 / int64 CPU
/// tensor of `count` contiguous elements, and advances the state exactly as that call does, so a
/// sequence of calls on one generator matches the same sequence in PyTorch:
///
/// - `randn(count:)` = `torch.randn(n, generator: g)` (pinned bitwise by RandomTests),
/// - `rand(count:)` = `torch.rand(n, generator: g)` (pinned bitwise),
/// - `randint(low:high:count:)` = `torch.randint(low, high, (n,), generator: g)` (pinned exactly).
///
/// The shape of a tensor does not matter, only its element count.
public struct PyTorchGenerator: Sendable {
    /// PyTorch's seed for a generator nobody seeded (`default_rng_seed_val`, CPUGeneratorImpl.cpp).
    public static let defaultSeed: UInt64 = 67_280_421_310_721

    private var engine: MersenneTwister
    /// `next_double_normal_sample`: the sine half of the last scalar Box-Muller pair, unused so far.
    private var cachedNormal: Double?
    /// The vectorised kernel `randn` reproduces for 16 or more elements.
    public var normalFillKernel: NormalFillKernel

    /// The generator `torch.Generator().manual_seed(seed)` yields.
    ///
    /// - Parameter normalFillKernel: the PyTorch CPU kernel to match for `randn` of 16 or more
    ///   elements; `.avx2` is what PyTorch runs on AVX2 x86 machines without AVX-512.
    public init(seed: UInt64 = PyTorchGenerator.defaultSeed, normalFillKernel: NormalFillKernel = .avx2) {
        engine = MersenneTwister(seed: seed)
        cachedNormal = nil
        self.normalFillKernel = normalFillKernel
    }

    /// The seed this generator was made with (`Generator.initial_seed()`).
    public var initialSeed: UInt64 { engine.seed }

    // MARK: Raw draws

    /// One engine output (`CPUGeneratorImpl::random`).
    public mutating func nextUInt32() -> UInt32 { engine.next() }

    /// Two engine outputs, the first one high (`CPUGeneratorImpl::random64`).
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(engine.next())
        let low = UInt64(engine.next())
        return high << 32 | low
    }

    /// `uniform_real_distribution<float>(0, 1)`: the low 24 bits of one draw times 2^-24.
    public mutating func nextUniformFloat() -> Float {
        Float(nextUInt32() & 0x00ff_ffff) * 0x1p-24
    }

    /// `uniform_real_distribution<double>(0, 1)`: the low 53 bits of a 64-bit draw times 2^-53.
    public mutating func nextUniformDouble() -> Double {
        Double(nextUInt64() & 0x001f_ffff_ffff_ffff) * 0x1p-53
    }

    /// `normal_distribution<double>(0, 1)` (aten/src/ATen/core/DistributionsHelper.h): returns the
    /// cached sample when there is one, else draws a Box-Muller pair, caches `r sin(theta)` and
    /// returns `r cos(theta)`.
    public mutating func nextNormalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextUniformDouble()
        let u2 = nextUniformDouble()
        let radius = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = radius * Foundation.sin(theta)
        return radius * Foundation.cos(theta)
    }

    // MARK: Tensor-sized draws

    /// `torch.randn` of `count` float32 values.
    ///
    /// Fewer than 16 values: one `normal_distribution<double>` sample per value, cast to float
    /// (uses and refills the cached sample). 16 or more: `normal_fill`, i.e. `count` float uniforms,
    /// Box-Muller on each block of 16, and when `count % 16 != 0` 16 fresh uniforms transformed into
    /// the last 16 slots (overwriting the tail of the last full block). This path ignores the cache.
    public mutating func randn(count: Int) -> [Float] {
        precondition(count >= 0, "randn: count must be >= 0, got \(count)")
        if count < 16 {
            return (0..<count).map { _ in Float(nextNormalDouble()) }
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { if let base = $0.baseAddress { fillNormal(base, count: count) } }
        return values
    }

    /// Writes `torch.randn(count)`'s values to `data` (see `randn(count:)`).
    // data: [count]
    public mutating func fillNormal(_ data: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0, "fillNormal: count must be >= 0, got \(count)")
        if count < 16 {
            for i in 0..<count { data[i] = Float(nextNormalDouble()) }
            return
        }
        for i in 0..<count { data[i] = nextUniformFloat() }
        var start = 0
        while start + 16 <= count {
            normalFillKernel.transform16(data + start)
            start += 16
        }
        if count % 16 != 0 {
            let tail = data + (count - 16)
            for i in 0..<16 { tail[i] = nextUniformFloat() }
            normalFillKernel.transform16(tail)
        }
    }

    /// `torch.rand` of `count` float32 values in [0, 1), one engine draw each.
    public mutating func rand(count: Int) -> [Float] {
        precondition(count >= 0, "rand: count must be >= 0, got \(count)")
        return (0..<count).map { _ in nextUniformFloat() }
    }

    /// `torch.randint(low, high, (count,))` as int64: `draw % (high - low) + low`, where the draw is
    /// one 32-bit output when the range is below 2^32 and a 64-bit one otherwise
    /// (`uniform_int_from_to_distribution`, TransformationHelper.h `uniform_int_from_to`).
    /// Like PyTorch this is slightly biased towards small values when the range does not divide 2^32.
    ///
    /// - Throws: `RandomError.emptyRange` when `high <= low`, `RandomError.negativeCount`.
    public mutating func randint(low: Int64, high: Int64, count: Int) throws -> [Int64] {
        guard count >= 0 else { throw RandomError.negativeCount(function: "randint", count: count) }
        guard low < high else { throw RandomError.emptyRange(low: low, high: high) }
        let range = UInt64(bitPattern: high) &- UInt64(bitPattern: low)
        let base = UInt64(bitPattern: low)
        return (0..<count).map { _ in
            let draw = range >= 1 << 32 ? nextUInt64() : UInt64(nextUInt32())
            return Int64(bitPattern: draw % range &+ base)
        }
    }
}
