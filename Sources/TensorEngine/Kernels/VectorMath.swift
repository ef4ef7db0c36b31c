import CVectorMath

// Row primitives for softmax-style kernels. The exp, max and softmax-gradient loops live in C
// (Sources/CVectorMath: compiled for baseline x86-64 and for AVX2 + FMA, picked from cpuid at
// load time), because this package's Swift code is built for baseline x86-64 (SSE2); the cheap
// loops stay here as plain scalar code with eight independent accumulators, which the compiler
// vectorises. (Swift's generic SIMD types were not specialised here: their Float→Int32 lane
// conversion ran as a generic call per element.)

enum VectorMath {
    /// e^x, about 2 ulp on [-87.3, 88.3] (Cephes expf polynomial; see vector_math.c).
    @inline(__always)
    static func exp(_ v: Float) -> Float { sepme_exp(v) }

    /// True when the AVX2 + FMA row kernels are in use on this CPU.
    static var usesAVX2: Bool { sepme_vector_math_uses_avx2() != 0 }

    /// max_i p[i] for n >= 1.
    @inline(__always)
    static func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float { sepme_row_max(p, n) }

    /// p[i] = e^(p[i] − shift) in place.
    @inline(__always)
    static func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) {
        sepme_exp_shifted(p, n, shift)
    }

    /// p[i] = e^(p[i] − shift) in place; returns Σ p[i] (one pass).
    @inline(__always)
    static func expShiftedSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        sepme_exp_shifted_sum(p, n, shift)
    }

    /// p[i] = e^((p[i] − shift) · scale) in place; returns Σ p[i] (one pass). Scale 1 gives
    /// `expShiftedSum`'s bits.
    @inline(__always)
    static func expScaledSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float, scale: Float) -> Float {
        sepme_exp_scaled_sum(p, n, shift, scale)
    }

    /// Softmax backward on one row: g[i] = p[i] · (g[i] − delta), with delta = Σ p·g of the full row.
    @inline(__always)
    static func softmaxGradientInPlace(
        _ g: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>,
        _ n: Int, delta: Float
    ) {
        sepme_softmax_gradient(g, p, n, delta)
    }

    /// out[i] = hidden[i] · gelu(gate[i]) (hidden nil: gelu(gate[i])); out may alias gate.
    @inline(__always)
    static func gatedGelu(_ out: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>?, gate: UnsafePointer<Float>, _ n: Int) {
        sepme_gated_gelu(out, hidden, gate, n)
    }

    /// Backward of `gatedGelu` for the incoming gradient: dHidden = g · gelu(gate) (skipped when nil),
    /// dGate = g · hidden · (Φ + x φ)(gate) (hidden nil: 1).
    @inline(__always)
    static func gatedGeluBackward(
        dHidden: UnsafeMutablePointer<Float>?, dGate: UnsafeMutablePointer<Float>,
        hidden: UnsafePointer<Float>?, gate: UnsafePointer<Float>,
        gradient: UnsafePointer<Float>, _ n: Int
    ) {
        sepme_gated_gelu_backward(dHidden, dGate, hidden, gate, gradient, n)
    }

    /// out[i] = x[i] · σ(x[i]) (SiLU); out may alias x.
    @inline(__always)
    static func silu(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) { sepme_silu(out, x, n) }

    /// y = softmax(x) over one row, e^t with libm's expf bits and the sum in order (`Tensor.softmax`); y
    /// may not alias x.
    @inline(__always)
    static func softmaxRow(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        sepme_softmax_libm_row(y, x, n)
    }

    /// out[i] = x[i] / (1 + e^(−1.702 x[i])) with libm's expf bits (CLIP's quick GELU); out may alias x.
    @inline(__always)
    static func quickGelu(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        sepme_quick_gelu(out, x, n)
    }

    /// SiLU backward: dx[i] = g[i] · σ(x[i]) · (1 + x[i] (1 − σ(x[i]))); dx may alias g.
    @inline(__always)
    static func siluBackward(_ dx: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, gradient g: UnsafePointer<Float>, _ n: Int) {
        sepme_silu_backward(dx, x, g, n)
    }

    /// Σ a[i]·b[i] with eight interleaved partial sums.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0
        var s1: Float = 0
        var s2: Float = 0
        var s3: Float = 0
        var s4: Float = 0
        var s5: Float = 0
        var s6: Float = 0
        var s7: Float = 0
        var i = 0
        while i + 8 <= n {
            s0 += a[i] * b[i]
            s1 += a[i + 1] * b[i + 1]
            s2 += a[i + 2] * b[i + 2]
            s3 += a[i + 3] * b[i + 3]
            s4 += a[i + 4] * b[i + 4]
            s5 += a[i + 5] * b[i + 5]
            s6 += a[i + 6] * b[i + 6]
            s7 += a[i + 7] * b[i + 7]
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// p[i] *= s in place.
    @inline(__always)
    static func scaleInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        for i in 0..<n { p[i] *= s }
    }
}
