// Row primitives for softmax-style kernels: row maximum, in-place exp with sum, scaling.
// Written as plain scalar loops over pointers with eight independent accumulators, which the
// compiler turns into SIMD code; Swift's generic SIMD types were not specialised here (their
// Float→Int32 lane conversion ran as a generic call per element, 20× slower).

enum VectorMath {
    /// e^x: Cody–Waite range reduction x = n·ln2 + r, the Cephes expf polynomial for e^r, and 2^n
    /// built in the exponent bits. Rounding to n uses the 1.5·2²³ trick, so the loop has no calls.
    /// Relative error about 2 ulp on [-87.3, 88.3]; smaller inputs give ≈ 6e-39 instead of 0
    /// (harmless in a softmax), larger ones saturate.
    @inline(__always)
    static func exp(_ v: Float) -> Float {
        let x = v < -87.3 ? -87.3 : (v > 88.3 ? 88.3 : v)
        let shifted = x * 1.442_695_04 + 12_582_912      // 1.5·2²³: the sum's low bits hold round(x·log2 e)
        let n = shifted - 12_582_912
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = p * (r * r) + r + 1
        let ni = Int32(bitPattern: shifted.bitPattern &- 0x4B40_0000)
        return p * Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
    }

    /// max_i p[i] for n >= 1.
    @inline(__always)
    static func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var m0 = p[0], m1 = p[0], m2 = p[0], m3 = p[0], m4 = p[0], m5 = p[0], m6 = p[0], m7 = p[0]
        var i = 0
        while i + 8 <= n {
            m0 = p[i] > m0 ? p[i] : m0; m1 = p[i + 1] > m1 ? p[i + 1] : m1
            m2 = p[i + 2] > m2 ? p[i + 2] : m2; m3 = p[i + 3] > m3 ? p[i + 3] : m3
            m4 = p[i + 4] > m4 ? p[i + 4] : m4; m5 = p[i + 5] > m5 ? p[i + 5] : m5
            m6 = p[i + 6] > m6 ? p[i + 6] : m6; m7 = p[i + 7] > m7 ? p[i + 7] : m7
            i += 8
        }
        var m = Swift.max(Swift.max(Swift.max(m0, m1), Swift.max(m2, m3)), Swift.max(Swift.max(m4, m5), Swift.max(m6, m7)))
        while i < n { m = Swift.max(m, p[i]); i += 1 }
        return m
    }

    /// p[i] = e^(p[i] − shift) in place.
    @inline(__always)
    static func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) {
        for i in 0..<n { p[i] = exp(p[i] - shift) }
    }

    /// p[i] = e^(p[i] − shift) in place; returns Σ p[i]. Two passes over the row (the exp loop
    /// vectorises, a fused running sum would not without reassociation), meant for rows in cache.
    @inline(__always)
    static func expShiftedSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        expShiftedInPlace(p, n, shift: shift)
        return sum(p, n)
    }

    /// Σ a[i]·b[i] with eight interleaved partial sums.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var i = 0
        while i + 8 <= n {
            s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3]
            s4 += a[i + 4] * b[i + 4]; s5 += a[i + 5] * b[i + 5]; s6 += a[i + 6] * b[i + 6]; s7 += a[i + 7] * b[i + 7]
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Softmax backward on one row: g[i] = p[i] · (g[i] − delta), with delta = Σ p·g of the full row.
    @inline(__always)
    static func softmaxGradientInPlace(_ g: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>,
                                       _ n: Int, delta: Float) {
        for i in 0..<n { g[i] = p[i] * (g[i] - delta) }
    }

    /// Σ p[i] with eight interleaved partial sums.
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var i = 0
        while i + 8 <= n {
            s0 += p[i]; s1 += p[i + 1]; s2 += p[i + 2]; s3 += p[i + 3]
            s4 += p[i + 4]; s5 += p[i + 5]; s6 += p[i + 6]; s7 += p[i + 7]
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// p[i] *= s in place.
    @inline(__always)
    static func scaleInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        for i in 0..<n { p[i] *= s }
    }
}
