import Foundation

/// Bit-level conversions between Float32 and the 16-bit float formats (IEEE binary16 and bfloat16).
///
/// Float32 -> 16 bit rounds to nearest, ties to even, like PyTorch's `.half()` / `.bfloat16()`
/// (c10/util/Half.h `fp16_ieee_from_fp32_value`, c10/util/BFloat16.h `round_to_nearest_even`).
/// 16 bit -> Float32 is exact.
enum HalfPrecision {
    /// IEEE binary16 bits -> Float32 (exact, including subnormals, infinities and NaN).
    /// Branch-free (the three cases are computed and one is selected), so that a loop over many values
    /// compiles to vector code: loading an fp16 checkpoint converts every weight through it.
    @inline(__always)
    static func float(fromHalfBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let magnitude = Int32(h & 0x7FFF)  // exponent and mantissa
        // Normal: exponent rebiased from 15 to 127 ((e + 112) << 23), mantissa widened by 13 bits.
        let normal = (magnitude << 13) &+ 0x3800_0000
        // Infinity or NaN: all-ones exponent, the mantissa (a NaN's payload) widened.
        let infinityOrNaN = (magnitude << 13) | 0x7F80_0000
        // Zero or subnormal: mantissa * 2^-24, exactly representable in Float32.
        let subnormal = Int32(bitPattern: (Float(magnitude) * 0x1p-24).bitPattern)
        let bits = magnitude >= 0x7C00 ? infinityOrNaN : (magnitude < 0x400 ? subnormal : normal)
        return Float(bitPattern: sign | UInt32(bitPattern: bits))
    }

    /// Float32 -> IEEE binary16 bits, rounding to nearest even. Overflow gives infinity; NaN gives a
    /// quiet NaN (0x7E00) with the input's sign.
    @inline(__always)
    static func halfBits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude >= 0x7F80_0000 {
            return sign | (magnitude > 0x7F80_0000 ? 0x7E00 : 0x7C00)
        }
        if magnitude >= 0x4780_0000 {  // >= 2^16: beyond the half range even before rounding
            return sign | 0x7C00
        }
        let exponent = magnitude >> 23
        if exponent < 113 {
            // Result is a half subnormal (or zero): units of 2^-24.
            if magnitude <= 0x3300_0000 { return sign }  // <= 2^-25 rounds (ties to even) to zero
            let significand = (magnitude & 0x7F_FFFF) | 0x80_0000
            let shift = 126 - exponent  // 14 ... 24
            var result = significand >> shift
            let remainder = significand & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if remainder > halfway || (remainder == halfway && (result & 1) == 1) { result += 1 }
            return sign | UInt16(truncatingIfNeeded: result)
        }
        // Normal half: rebias exponent, keep the top 10 mantissa bits, round on the 13 dropped bits.
        // A carry out of the mantissa correctly bumps the exponent (up to infinity).
        var result = ((exponent - 112) << 10) | ((magnitude & 0x7F_FFFF) >> 13)
        let remainder = magnitude & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) { result += 1 }
        return sign | UInt16(truncatingIfNeeded: result)
    }

    /// bfloat16 bits -> Float32 (exact).
    @inline(__always)
    static func float(fromBFloat16Bits b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    /// Float32 -> bfloat16 bits, rounding to nearest even; NaN gives 0x7FC0 like c10::BFloat16.
    @inline(__always)
    static func bfloat16Bits(from value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let bits = value.bitPattern
        let roundingBias = ((bits >> 16) & 1) + 0x7FFF
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }
}
