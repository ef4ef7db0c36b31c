import CVectorMath
import Foundation
import XCTest
@testable import TensorEngine

/// The softmax row kernels (Sources/CVectorMath), on both code paths where the CPU has AVX2 + FMA:
/// e^x to a few ulp of the double-precision value over the whole float range a softmax sees, row
/// maximum exact, lengths that exercise the 16-wide body and every tail.
final class VectorMathTests: XCTestCase {
    static let lengths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100, 515]

    func forEachPath(_ body: (String) throws -> Void) rethrows {
        let previous = sepme_vector_math_set_avx2(0)
        let previous512 = sepme_vector_math_set_avx512(0)
        defer {
            _ = sepme_vector_math_set_avx2(previous)
            _ = sepme_vector_math_set_avx512(previous512)
        }
        try body("scalar")
        if sepme_vector_math_set_avx2(1) == 0, VectorMath.usesAVX2 { try body("avx2") }
        if sepme_vector_math_set_avx512(1) == 0, sepme_vector_math_uses_avx512() != 0 { try body("avx512") }
    }

    /// The AVX-512F exponential rows keep the AVX2 loop's lanes and order: the same bits, values and sum.
    func testExpShiftedSumAVX512MatchesAVX2BitForBit() throws {
        let previous = sepme_vector_math_set_avx512(1)
        defer { _ = sepme_vector_math_set_avx512(previous) }
        try XCTSkipUnless(sepme_vector_math_uses_avx512() != 0, "the CPU lacks AVX-512F (or AVX2 + FMA)")
        var g = SplitMix64(seed: 11)
        for n in Self.lengths {
            // Values past both ends of exp's clamp too (every fourth), in full vectors and the tail.
            let x = (0..<n).map { i in Float(g.nextUnitDouble() * (i % 4 == 3 ? 400 : 60) - (i % 4 == 3 ? 200 : 40)) }
            var wide = x
            let wideSum = wide.withUnsafeMutableBufferPointer { sepme_exp_shifted_sum($0.baseAddress!, n, 3.5) }
            _ = sepme_vector_math_set_avx512(0)
            var narrow = x
            let narrowSum = narrow.withUnsafeMutableBufferPointer { sepme_exp_shifted_sum($0.baseAddress!, n, 3.5) }
            _ = sepme_vector_math_set_avx512(1)
            XCTAssertEqual(wide.map(\.bitPattern), narrow.map(\.bitPattern), "n \(n)")
            XCTAssertEqual(wideSum.bitPattern, narrowSum.bitPattern, "n \(n): row sum")
        }
    }

    func testExpShiftedSumIsAccurate() {
        var g = SplitMix64(seed: 3)
        forEachPath { path in
            for n in Self.lengths {
                let shift = Float(g.nextUnitDouble() * 20 - 10)
                let x = (0..<n).map { _ in Float(g.nextUnitDouble() * 147 - 77) }  // e^(x − shift) spans ~1e-38 … 1e35
                var y = x
                let s = y.withUnsafeMutableBufferPointer { VectorMath.expShiftedSum($0.baseAddress!, n, shift: shift) }
                var total = 0.0
                for i in 0..<n {
                    let want = Foundation.exp(Double(x[i] - shift))
                    total += Double(y[i])
                    guard want > 1e-37, want < 3e38 else { continue }  // float normal range
                    XCTAssertEqual(Double(y[i]), want, accuracy: want * 4e-7, "\(path) n \(n) x \(x[i]) shift \(shift)")
                }
                XCTAssertEqual(Double(s), total, accuracy: abs(total) * 1e-5 + 1e-30, "\(path) n \(n): row sum")
            }
        }
    }

    /// The scaled rows (attention's scale folded into the exponentials): scale 1 gives the unscaled rows'
    /// bits, and any other scale e^((x − shift) · scale) to the unscaled rows' accuracy, on every path;
    /// the AVX-512F rows keep the AVX2 rows' bits.
    func testExpScaledSumMatchesTheUnscaledRowsAndIsAccurate() {
        var g = SplitMix64(seed: 5)
        let rows = Self.lengths.map { n in
            (shift: Float(g.nextUnitDouble() * 20 - 10), x: (0..<n).map { _ in Float(g.nextUnitDouble() * 400 - 200) })
        }
        var byPath: [String: [[UInt32]]] = [:]
        forEachPath { path in
            for (shift, x) in rows {
                let n = x.count
                var plain = x
                var unit = x
                let plainSum = plain.withUnsafeMutableBufferPointer { VectorMath.expShiftedSum($0.baseAddress!, n, shift: shift) }
                let unitSum = unit.withUnsafeMutableBufferPointer { VectorMath.expScaledSum($0.baseAddress!, n, shift: shift, scale: 1) }
                XCTAssertEqual(unit.map(\.bitPattern), plain.map(\.bitPattern), "\(path) n \(n): scale 1")
                XCTAssertEqual(unitSum.bitPattern, plainSum.bitPattern, "\(path) n \(n): scale 1, row sum")
                let scale: Float = 1 / Float(40).squareRoot()
                var y = x
                let s = y.withUnsafeMutableBufferPointer { VectorMath.expScaledSum($0.baseAddress!, n, shift: shift, scale: scale) }
                var total = 0.0
                for i in 0..<n {
                    let want = Foundation.exp(Double((x[i] - shift) * scale))
                    total += Double(y[i])
                    guard want > 1e-37, want < 3e38 else { continue }
                    XCTAssertEqual(Double(y[i]), want, accuracy: want * 4e-7, "\(path) n \(n) x \(x[i])")
                }
                XCTAssertEqual(Double(s), total, accuracy: abs(total) * 1e-5 + 1e-30, "\(path) n \(n): row sum")
                byPath[path, default: []].append(y.map(\.bitPattern) + [s.bitPattern])
            }
        }
        if let narrow = byPath["avx2"], let wide = byPath["avx512"] {
            for (row, n) in Self.lengths.enumerated() {
                XCTAssertTrue(narrow[row] == wide[row], "n \(n): the AVX-512F row differs from the AVX2 row")
            }
        }
    }

    func testExpSaturatesAndUnderflowsQuietly() {
        forEachPath { path in
            var row: [Float] = [-1e30, -200, -87.3, 0, 88.3, 1e30, -.infinity, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
            row.withUnsafeMutableBufferPointer { VectorMath.expShiftedInPlace($0.baseAddress!, $0.count, shift: 0) }
            XCTAssertTrue(row.allSatisfy { $0.isFinite && $0 >= 0 }, "\(path): \(row)")
            XCTAssertLessThan(row[0], 1e-37, path)
            XCTAssertEqual(row[3], 1, path)
            let top = Foundation.exp(Double(Float(88.3)))
            XCTAssertEqual(Double(row[4]), top, accuracy: top * 4e-7, path)
        }
    }

    func testRowMaxAndSoftmaxGradient() {
        var g = SplitMix64(seed: 4)
        forEachPath { path in
            for n in Self.lengths {
                let x = (0..<n).map { _ in Float(g.nextUnitDouble() * 2 - 1) }
                XCTAssertEqual(x.withUnsafeBufferPointer { VectorMath.rowMax($0.baseAddress!, n) }, x.max()!, "\(path) n \(n)")
                let p = (0..<n).map { _ in Float(g.nextUnitDouble()) }
                var grad = x
                grad.withUnsafeMutableBufferPointer { VectorMath.softmaxGradientInPlace($0.baseAddress!, probabilities: p, n, delta: 0.25) }
                for i in 0..<n { XCTAssertEqual(grad[i], p[i] * (x[i] - 0.25), "\(path) n \(n) i \(i)") }
            }
        }
    }

    /// GELU rows against double-precision erf over [-12, 12] (both tails, zero, every row tail):
    /// forward and both backward outputs, plain and gated, also with the output aliasing the gate.
    func testGatedGeluAgainstDoublePrecision() {
        var g = SplitMix64(seed: 5)
        func cdf(_ x: Double) -> Double { 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) }
        func slope(_ x: Double) -> Double { cdf(x) + x * Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }
        forEachPath { path in
            for n in Self.lengths {
                var gate = (0..<n).map { _ in Float(g.nextUnitDouble() * 24 - 12) }
                if n > 3 {
                    gate[0] = 0
                    gate[1] = -0.0
                    gate[2] = 1e-4
                }
                let hidden = (0..<n).map { _ in Float(g.nextUnitDouble() * 4 - 2) }
                let grad = (0..<n).map { _ in Float(g.nextUnitDouble() * 2 - 1) }
                var plain = [Float](repeating: .nan, count: n)
                var gated = plain
                var dHidden = plain
                var dGate = plain
                var dPlain = plain
                VectorMath.gatedGelu(&plain, hidden: nil, gate: gate, n)
                VectorMath.gatedGelu(&gated, hidden: hidden, gate: gate, n)
                VectorMath.gatedGeluBackward(dHidden: &dHidden, dGate: &dGate, hidden: hidden, gate: gate, gradient: grad, n)
                VectorMath.gatedGeluBackward(dHidden: nil, dGate: &dPlain, hidden: nil, gate: gate, gradient: grad, n)
                var aliased = gate
                aliased.withUnsafeMutableBufferPointer { VectorMath.gatedGelu($0.baseAddress!, hidden: nil, gate: $0.baseAddress!, n) }
                for i in 0..<n {
                    let x = Double(gate[i])
                    let h = Double(hidden[i])
                    let gi = Double(grad[i])
                    let gelu = x * cdf(x)
                    let tol = 2e-7 * Swift.max(1, abs(x))
                    let at = "\(path) n \(n) x \(gate[i])"
                    XCTAssertEqual(Double(plain[i]), gelu, accuracy: tol, at)
                    XCTAssertEqual(aliased[i], plain[i], at)
                    XCTAssertEqual(Double(gated[i]), h * gelu, accuracy: tol * Swift.max(1, abs(h)), at)
                    XCTAssertEqual(Double(dHidden[i]), gi * gelu, accuracy: tol, at)
                    XCTAssertEqual(Double(dGate[i]), gi * h * slope(x), accuracy: 4e-7 * Swift.max(1, abs(x)) * Swift.max(1, abs(h)), at)
                    XCTAssertEqual(Double(dPlain[i]), gi * slope(x), accuracy: 4e-7 * Swift.max(1, abs(x)), at)
                }
            }
        }
    }

    /// SiLU rows against double precision over [-100, 100] (both saturated tails, zero, every row
    /// tail): forward (also in place) and backward.
    func testSiluAgainstDoublePrecision() {
        var g = SplitMix64(seed: 6)
        forEachPath { path in
            for n in Self.lengths {
                var x = (0..<n).map { _ in Float(g.nextUnitDouble() * 24 - 12) }
                if n > 4 {
                    x[0] = 0
                    x[1] = -100
                    x[2] = 100
                    x[3] = -0.0
                }
                let grad = (0..<n).map { _ in Float(g.nextUnitDouble() * 2 - 1) }
                var y = [Float](repeating: .nan, count: n)
                var dx = y
                VectorMath.silu(&y, x, n)
                VectorMath.siluBackward(&dx, x, gradient: grad, n)
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { VectorMath.silu($0.baseAddress!, $0.baseAddress!, n) }
                for i in 0..<n {
                    let v = Double(x[i])
                    let s = 1 / (1 + Foundation.exp(-v))
                    let at = "\(path) n \(n) x \(x[i])"
                    XCTAssertEqual(Double(y[i]), v * s, accuracy: 3e-7 * Swift.max(1, abs(v)), at)
                    XCTAssertEqual(inPlace[i], y[i], at)
                    XCTAssertEqual(Double(dx[i]), Double(grad[i]) * s * (1 + v * (1 - s)), accuracy: 5e-7 * Swift.max(1, abs(v)), at)
                }
            }
        }
    }

    /// CLIP's quick GELU keeps libm's expf bits on every path: the same floats as
    /// `x / (1 + Foundation.exp(-1.702 * x))` over a sweep of the float range (every 4093rd bit pattern,
    /// both signs), the values around where glibc leaves its main path (|1.702 x| near 88), zeros,
    /// subnormals, infinities and NaN, in full vectors and tails.
    func testQuickGeluHasLibmExpBits() {
        var x: [Float] = [0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .infinity, -.infinity, .nan]
        for bits in stride(from: UInt32(0), to: 0x7F80_0000, by: 4093) {
            x.append(Float(bitPattern: bits))
            x.append(-Float(bitPattern: bits))
        }
        for edge: Float in [88 / 1.702, 103.97 / 1.702, 88.72 / 1.702] {
            var v = edge
            for _ in 0..<40 {
                x += [v, -v]
                v = v.nextUp
            }
        }
        let want = x.map { $0 / (1 + Foundation.exp(-1.702 * $0)) }
        forEachPath { path in
            for n in [x.count, 1, 7, 15, 17, 33] {
                var y = [Float](repeating: 0, count: n)
                y.withUnsafeMutableBufferPointer { VectorMath.quickGelu($0.baseAddress!, x, n) }
                var mismatches = 0
                for i in 0..<n where y[i].bitPattern != want[i].bitPattern && !(y[i].isNaN && want[i].isNaN) {
                    if mismatches < 5 { XCTFail("\(path) n \(n): x \(x[i]) gives \(y[i]), libm \(want[i])") }
                    mismatches += 1
                }
                XCTAssertEqual(mismatches, 0, "\(path) n \(n)")
            }
        }
    }

    /// `Tensor.softmax`'s rows keep the bits of the scalar row (maximum, libm's expf of x − max summed in
    /// order, times 1 / sum) on every path: rows with causal −∞ entries, spreads that put x − max where
    /// glibc's expf leaves its main path (below −88, below −103.97), ties, zeros, every tail length.
    func testSoftmaxRowKeepsTheScalarRowsBits() {
        var g = SplitMix64(seed: 21)
        var rows: [[Float]] = []
        for n in [1, 2, 7, 8, 15, 16, 17, 33, 77, 100] {
            for spread in [1.0, 30.0, 95.0, 120.0] {
                let row = (0..<n).map { _ in Float((g.nextUnitDouble() - 0.5) * 2 * spread) }
                rows.append(row)
                rows.append(row.enumerated().map { $0.offset > n / 2 ? -.infinity : $0.element })
            }
            rows.append([Float](repeating: 0, count: n))
            rows.append((0..<n).map { Float(-88 - 16 * Double($0) / Double(n)) } + [0])
        }
        func scalar(_ x: [Float]) -> [Float] {
            var m = -Float.infinity
            for v in x { m = Swift.max(m, v) }
            var y = x.map { Foundation.exp($0 - m) }
            var s: Float = 0
            for v in y { s += v }
            let inv = 1 / s
            for j in y.indices { y[j] *= inv }
            return y
        }
        forEachPath { path in
            for x in rows {
                var y = [Float](repeating: .nan, count: x.count)
                y.withUnsafeMutableBufferPointer { VectorMath.softmaxRow($0.baseAddress!, x, x.count) }
                XCTAssertEqual(y.map(\.bitPattern), scalar(x).map(\.bitPattern), "\(path) n \(x.count): \(x.prefix(4))")
            }
        }
    }

    /// The column pieces of the bf16 attention's online softmax (attention_columns.c) give, on every path,
    /// the scalar definition's bits: maxima exact, each exponential the short one (`shortExp2`), each sum
    /// the incoming one plus the exponentials in key order, each rescaled value one product.
    /// Widths exercise the 16- and 8-wide bodies, the four-vector groups and every tail; the tile's rows
    /// are `ld` floats apart, wider than the columns used.
    /// attention_columns.c's short exponential, 2^t for t = x·k − c (one rounding), as its header defines
    /// it: t clamped to [−126, 127], n = t to the nearest even integer, 2^(t − n) by the degree-4
    /// polynomial (Horner, fused), times the power of two 2^n.
    static func shortExp2(_ x: Float, _ k: Float, _ c: Float) -> Float {
        var t = (-c).addingProduct(x, k)
        t = t > -126 ? t : -126
        t = t < 127 ? t : 127
        let n = t.rounded(.toNearestOrEven)
        let f = t - n
        var p = Float(0.0559178628).addingProduct(Float(0.00957010128), f)
        p = Float(0.240247443).addingProduct(p, f)
        p = Float(0.693121791).addingProduct(p, f)
        p = Float(0.999999285).addingProduct(p, f)
        return p * Float(sign: .plus, exponent: Int(n), significand: 1)
    }

    func testColumnSoftmaxPiecesHaveTheScalarDefinitionsBits() {
        var g = SplitMix64(seed: 17)
        for (lines, width) in [(1, 1), (3, 7), (5, 8), (2, 9), (7, 17), (4, 64), (6, 65), (9, 130)] {
            let ld = width + 3
            let tile = (0..<lines * ld).map { _ in Float(g.nextUnitDouble() * 60 - 30) }
            let shift = (0..<width).map { _ in Float(g.nextUnitDouble() * 10 - 5) }
            let incoming = (0..<width).map { _ in Float(g.nextUnitDouble() * 3) }
            let factor = (0..<width).map { _ in Float(g.nextUnitDouble()) }
            let scale: Float = 0.158
            var wantMax = [Float](repeating: -.infinity, count: width)
            var wantExp = tile
            var wantSum = incoming
            var wantScaled = tile
            for l in 0..<lines {
                for i in 0..<width {
                    wantMax[i] = Swift.max(wantMax[i], tile[l * ld + i])
                    let k = scale * 1.44269504
                    wantExp[l * ld + i] = Self.shortExp2(tile[l * ld + i], k, shift[i] * k)
                    wantSum[i] += wantExp[l * ld + i]
                    wantScaled[l * ld + i] = tile[l * ld + i] * factor[i]
                }
            }
            forEachPath { path in
                var top = [Float](repeating: 0, count: width)
                sepme_column_maxima(tile, lines, width, ld, &top)
                var exps = tile
                var sum = incoming
                sepme_exp_columns_short(&exps, lines, width, ld, shift, scale, &sum)
                var scaled = tile
                sepme_scale_columns(&scaled, lines, width, ld, factor)
                let shape = "\(path) \(lines) × \(width)"
                XCTAssertEqual(top.map(\.bitPattern), wantMax.map(\.bitPattern), "\(shape): maxima")
                XCTAssertEqual(exps.map(\.bitPattern), wantExp.map(\.bitPattern), "\(shape): exponentials")
                XCTAssertEqual(sum.map(\.bitPattern), wantSum.map(\.bitPattern), "\(shape): sums")
                XCTAssertEqual(scaled.map(\.bitPattern), wantScaled.map(\.bitPattern), "\(shape): rescaled")
            }
        }
    }

    /// The bf16 attention's shorter exponential (`sepme_exp_columns_short`) gives the same bits on every
    /// path and stays within its error bound of 2^t, t = s · k − shift · k with k = scale · log₂e and
    /// shift · k rounded to floats as the kernel rounds them, computed in doubles: the polynomial's
    /// 3e-6 plus the rounding of t to a float (half an ulp of |t| ≤ 127, times ln 2), for every result
    /// that is a normal float; below t = −126 the results are the clamp's 2⁻¹²⁶ · p(0) (rounded).
    func testShortColumnExponentialsAgreeOnEveryPathWithinTheirBound() {
        var g = SplitMix64(seed: 29)
        for (lines, width) in [(1, 1), (3, 7), (5, 8), (2, 9), (7, 17), (4, 64), (6, 65), (9, 130)] {
            let ld = width + 3
            var tile = (0..<lines * ld).map { _ in Float(g.nextUnitDouble() * 300 - 250) }
            tile[0] = -.infinity
            let shift = (0..<width).map { _ in Float(g.nextUnitDouble() * 10 - 5) }
            let incoming = (0..<width).map { _ in Float(g.nextUnitDouble() * 3) }
            let scale: Float = 0.7
            var results: [String: ([Float], [Float])] = [:]
            forEachPath { path in
                var exps = tile
                var sum = incoming
                sepme_exp_columns_short(&exps, lines, width, ld, shift, scale, &sum)
                results[path] = (exps, sum)
            }
            guard let (exps, sum) = results["avx512"] ?? results.values.first else { return XCTFail("no path ran") }
            for (path, other) in results {
                XCTAssertEqual(other.0.map(\.bitPattern), exps.map(\.bitPattern), "\(path) \(lines) × \(width)")
                XCTAssertEqual(other.1.map(\.bitPattern), sum.map(\.bitPattern), "\(path) \(lines) × \(width): sums")
            }
            let k = scale * 1.44269504
            var wantSum = incoming.map(Double.init)
            for l in 0..<lines {
                for i in 0..<width {
                    let c = shift[i] * k
                    let t = Double(tile[l * ld + i]) * Double(k) - Double(c)
                    let e = Double(exps[l * ld + i])
                    wantSum[i] += e
                    if t < -126 {
                        XCTAssertEqual(e, 0x1p-126, accuracy: 0x1p-126 * 1e-5, "t \(t) below the clamp")
                    } else {
                        let bound = 3e-6 + 0.5 * Double(Float(t).ulp) * M_LN2
                        XCTAssertLessThanOrEqual(abs(e / Foundation.exp2(t) - 1), bound, "t \(t)")
                    }
                }
            }
            for i in 0..<width {
                XCTAssertEqual(Double(sum[i]), wantSum[i], accuracy: 1e-5 * wantSum[i], "column \(i) sum")
            }
        }
    }
}
