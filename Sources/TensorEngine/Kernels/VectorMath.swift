// Vectorised row primitives for softmax-style kernels: row maximum and in-place exp with sum.

enum VectorMath {
    /// e^x for eight lanes: Cody–Waite range reduction x = n·ln2 + r, degree-6 polynomial for e^r
    /// (the Cephes expf coefficients), 2^n by exponent bits. Relative error about 2 ulp on
    /// [-87, 88]; inputs below -87.3 give ≈ 1e-38 instead of 0 (harmless in a softmax).
    @inline(__always)
    static func exp8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let x = v.clamped(lowerBound: SIMD8(repeating: -87.3), upperBound: SIMD8(repeating: 88.3))
        // n = round-to-nearest-even(x·log2 e) by adding 1.5·2^23 (exact for |n| < 2^22), which also
        // leaves n in the low mantissa bits; SIMD `rounded` and `SIMD8<Int32>(_:rounding:)` go
        // through unspecialised generic code (about 20% of an SD1 UNet step, perf).
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = p * (r * r) + r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }

    /// Scalar e^x with the same approximation as `exp8` (for row tails).
    @inline(__always)
    static func exp1(_ x: Float) -> Float { exp8(SIMD8(repeating: x))[0] }

    /// max_i p[i] for n >= 1.
    @inline(__always)
    static func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m8 = SIMD8<Float>(repeating: -.infinity)
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            m8 = pointwiseMax(m8, raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            i += 8
        }
        var m = m8.max()
        while i < n { m = Swift.max(m, p[i]); i += 1 }
        return m
    }

    /// p[i] = e^(p[i] − shift) in place; returns Σ p[i] (accumulated in Float lanes).
    @inline(__always)
    static func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        var i = 0
        var s8 = SIMD8<Float>(repeating: 0)
        let raw = UnsafeMutableRawPointer(p)
        let sh = SIMD8<Float>(repeating: shift)
        while i + 8 <= n {
            let e = exp8(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - sh)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: SIMD8<Float>.self)
            s8 += e
            i += 8
        }
        var s = s8.sum()
        while i < n { let e = exp1(p[i] - shift); p[i] = e; s += e; i += 1 }
        return s
    }

    /// p[i] *= s in place.
    @inline(__always)
    static func scaleInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        for i in 0..<n { p[i] *= s }
    }
}
