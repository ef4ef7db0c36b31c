/// Single-precision natural logarithm and sine/cosine evaluated step for step like PyTorch's AVX2
/// normal sampler (`log256_ps`, `sincos256_ps` in aten/src/ATen/native/cpu/avx_mathfun.h, the
/// Cephes `logf`/`sinf` polynomials), one lane at a time.
///
/// Bit-exactness depends on which multiply-adds the compiler fused: PyTorch's Linux wheels are built
/// by GCC, whose default `-ffp-contract=fast` turns a vector multiply feeding an add into one FMA.
/// `FusedSteps` names each place where that can happen. Against 2^22 values of torch 2.13's AVX2
/// `randn`, fusing every step reproduces all of them; turning off `horner`, `logTail`, `cosineTail`
/// or `sineTail` alone breaks 752 to 34,588 of them, while `logExponent` and `reduction` make no
/// difference on the [0, 2 pi) arguments used here (their products are exact or nearly so).
/// The choice in use is `NormalFillKernel.avx2Contraction`.
enum CephesFloatMath {
    /// Which multiply-add pairs are evaluated as one fused multiply-add (one rounding).
    struct FusedSteps: Sendable, Equatable {
        /// Horner steps `y * x + p` of both polynomials.
        var horner: Bool
        /// `y * z + e * q1` in the logarithm (fuses `y * z`).
        var logTail: Bool
        /// `(x + y) + e * q2` in the logarithm.
        var logExponent: Bool
        /// The three-part argument reduction `x + y * DPk`.
        var reduction: Bool
        /// `y * z - z * 0.5` of the cosine polynomial (fuses `y * z`).
        var cosineTail: Bool
        /// `y2 * x + x` of the sine polynomial.
        var sineTail: Bool

        static let none = FusedSteps(
            horner: false, logTail: false, logExponent: false,
            reduction: false, cosineTail: false, sineTail: false)
        static let all = FusedSteps(
            horner: true, logTail: true, logExponent: true,
            reduction: true, cosineTail: true, sineTail: true)
    }

    /// `a * b + c`, rounded once when `fused`, twice otherwise.
    @inline(__always)
    static func multiplyAdd(_ a: Float, _ b: Float, _ c: Float, fused: Bool) -> Float {
        fused ? c.addingProduct(a, b) : a * b + c
    }

    // Cephes logf constants (as in avx_mathfun.h; literal values of the published Cephes tables).
    static let sqrtHalf: Float = 0.707106781186547524
    static let logP: [Float] = [
        7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
        -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1
    ]
    static let logQ1: Float = -2.12194440e-4
    static let logQ2: Float = 0.693359375

    /// Natural log of a positive normal float, `log256_ps` lane semantics (NaN for x <= 0).
    static func log(_ input: Float, _ fuse: FusedSteps) -> Float {
        if !(input > 0) { return .nan }
        let clamped = max(input, Float(bitPattern: 0x0080_0000))  // cut off subnormals
        let bits = clamped.bitPattern
        var e = Float(Int32(bitPattern: bits >> 23) - 0x7f) + 1
        // Mantissa in [0.5, 1).
        var x = Float(bitPattern: (bits & ~UInt32(0x7f80_0000)) | Float(0.5).bitPattern)
        // if x < sqrt(1/2) { e -= 1; x = x + x - 1 } else { x = x - 1 }
        let below = x < sqrtHalf
        let addBack: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + addBack

        let z = x * x
        var y = logP[0]
        for k in 1..<logP.count { y = multiplyAdd(y, x, logP[k], fused: fuse.horner) }
        y = y * x
        y = multiplyAdd(y, z, e * logQ1, fused: fuse.logTail)
        y = y - z * 0.5
        x = x + y
        return multiplyAdd(e, logQ2, x, fused: fuse.logExponent)
    }

    // Cephes sinf/cosf constants.
    static let minusDP1: Float = -0.78515625
    static let minusDP2: Float = -2.4187564849853515625e-4
    static let minusDP3: Float = -3.77489497744594108e-8
    static let sinP: [Float] = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1]
    static let cosP: [Float] = [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002]
    static let fourOverPi: Float = 1.27323954473516

    /// `(sin x, cos x)` with `sincos256_ps` lane semantics; accurate for |x| < 8192.
    static func sinCos(_ input: Float, _ fuse: FusedSteps) -> (sin: Float, cos: Float) {
        if !input.isFinite { return (.nan, .nan) }
        var x = abs(input)
        let sinSignIn = input.sign == .minus
        // Octant j = (trunc(x * 4/pi) + 1) & ~1.
        let scaled = x * fourOverPi
        var j: Int32 = scaled < 2_147_483_648 ? Int32(scaled) : .min  // cvttps: out of range -> INT_MIN
        j = (j &+ 1) & ~1
        let y = Float(j)
        let swapSinSign = (j & 4) != 0
        let cosSignFlip = ((j &- 2) & 4) == 0

        // Extended-precision reduction x = ((x - y*DP1) - y*DP2) - y*DP3.
        x = multiplyAdd(y, minusDP1, x, fused: fuse.reduction)
        x = multiplyAdd(y, minusDP2, x, fused: fuse.reduction)
        x = multiplyAdd(y, minusDP3, x, fused: fuse.reduction)

        let z = x * x
        // Cosine polynomial on [0, pi/4].
        var c = cosP[0]
        c = multiplyAdd(c, z, cosP[1], fused: fuse.horner)
        c = multiplyAdd(c, z, cosP[2], fused: fuse.horner)
        c = c * z
        c = multiplyAdd(c, z, -(z * 0.5), fused: fuse.cosineTail)
        c = c + 1
        // Sine polynomial on [0, pi/4].
        var s = sinP[0]
        s = multiplyAdd(s, z, sinP[1], fused: fuse.horner)
        s = multiplyAdd(s, z, sinP[2], fused: fuse.horner)
        s = s * z
        s = multiplyAdd(s, x, x, fused: fuse.sineTail)

        // When bit 1 of the octant is set the two polynomials swap roles; the vector code selects
        // by masking and adding zero, so a -0 result comes out as +0 here too.
        let swapPolynomials = (j & 2) != 0
        var sine = (swapPolynomials ? c : s) + 0
        var cosine = (swapPolynomials ? s : c) + 0
        if sinSignIn != swapSinSign { sine = -sine }
        if cosSignFlip { cosine = -cosine }
        return (sine, cosine)
    }
}
