import CMatrixKernels
import CVectorMath
import Foundation
import XCTest
@testable import TensorEngine

/// Attention inside a bf16 scope (`BF16AttentionKernel`): both products in bf16 when no gradient is
/// recorded, fp32 otherwise.
///
/// Tolerance: against fp32 attention of the bf16-rounded q, k, v, the only bf16 rounding left is that
/// of the unnormalised probabilities e_j = exp(s_j − m) before the value product, |ẽ_j − e_j| ≤ 2⁻⁹ e_j
/// (plus the shorter exponential's few 1e-6, inside the bound's 1 % margin), so out_i moves by at most
/// 2⁻⁹ Σ_j P_ij |v_j|; fp32 sums in another order (scores over D terms, the
/// value product over Lk terms) add a few (Lk + D) 2⁻²⁴ of the same magnitude, scaled by the largest
/// |score| for the exponentials.
/// Most of its shapes are smaller than the products `BF16Coverage.whereItPays` sends to bf16, so every test
/// runs with `.everyProduct` (`invokeTest`).
final class BF16AttentionTests: XCTestCase {
    override func invokeTest() {
        PrecisionMode.withCoverage(.everyProduct) { super.invokeTest() }
    }

    private func random(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
        RandomTensors.uniform(shape, seed: seed, scale: scale)
    }

    private func rounded(_ t: Tensor) -> Tensor { RandomTensors.bf16Rounded(t) }

    private struct Case {
        let heads, lq, lk, d, dv: Int
        let queryBlock: Int?, keyBlock: Int?
    }

    // Cross-attention (one key tile), several key tiles with a partial last one, key tiles that are not
    // whole 12-row panels, odd D, Dv below and above a 12-row panel, and a default query block of 128 rows
    // (more than the column loops' four vectors) beside a partial one.
    private let cases = [
        Case(heads: 3, lq: 70, lk: 77, d: 40, dv: 40, queryBlock: nil, keyBlock: nil),
        Case(heads: 2, lq: 45, lk: 1100, d: 24, dv: 33, queryBlock: nil, keyBlock: nil),
        Case(heads: 1, lq: 7, lk: 130, d: 7, dv: 13, queryBlock: 5, keyBlock: 50),
        Case(heads: 2, lq: 20, lk: 64, d: 16, dv: 160, queryBlock: 12, keyBlock: 33),
        Case(heads: 1, lq: 150, lk: 600, d: 40, dv: 40, queryBlock: nil, keyBlock: nil)
    ]

    private func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ c: Case) -> Tensor {
        Tensor.scaledDotProductAttention(q, k, v, scale: nil, queryBlock: c.queryBlock, keyBlock: c.keyBlock)
    }

    func testWithinTheProbabilityRoundingBoundOfTheRoundedInputs() {
        for (index, c) in cases.enumerated() {
            let seed = UInt64(100 * index)
            let q = random([c.heads, c.lq, c.d], seed: seed + 1, scale: 2)
            let k = random([c.heads, c.lk, c.d], seed: seed + 2, scale: 2)
            let v = random([c.heads, c.lk, c.dv], seed: seed + 3)
            let y = PrecisionMode.with(.bf16) { attention(q, k, v, c) }
            let (rq, rk, rv) = (rounded(q), rounded(k), rounded(v))
            let reference = attention(rq, rk, rv, c)
            let magnitude = attention(rq, rk, rv.abs(), c)
            var largestScore: Float = 0
            let scale = 1 / Float(c.d).squareRoot()
            for h in 0..<c.heads {
                for i in 0..<c.lq {
                    for j in 0..<c.lk {
                        var s: Float = 0
                        for l in 0..<c.d {
                            s += abs(rq.pointer[(h * c.lq + i) * c.d + l] * rk.pointer[(h * c.lk + j) * c.d + l])
                        }
                        largestScore = Swift.max(largestScore, s * scale)
                    }
                }
            }
            let bound = 0x1p-9 * 1.01 + 4 * Double(c.lk + c.d + 4) * 0x1p-24 * (1 + Double(largestScore))
            XCTAssertEqual(y.shape, reference.shape)
            var worst = 0.0
            for i in 0..<y.count {
                let error = Double(abs(y.pointer[i] - reference.pointer[i]))
                worst = Swift.max(worst, error / Double(magnitude.pointer[i]))
                if error > bound * Double(magnitude.pointer[i]) {
                    XCTFail("case \(index) element \(i): \(y.pointer[i]) vs \(reference.pointer[i]) (bound \(bound))")
                    break
                }
            }
            XCTAssertGreaterThan(worst, 0, "case \(index): the probabilities' bf16 rounding shows")
        }
    }

    func testEveryKernelPathGivesTheSameResult() throws {
        try XCTSkipIf(BF16GEMM.bestPath == .amx, "the tile unit sums in its own order")
        for (index, c) in cases.enumerated() {
            let seed = UInt64(100 * index + 50)
            let q = random([c.heads, c.lq, c.d], seed: seed + 1)
            let k = random([c.heads, c.lk, c.d], seed: seed + 2)
            let v = random([c.heads, c.lk, c.dv], seed: seed + 3)
            let best = PrecisionMode.with(.bf16) { attention(q, k, v, c) }
            for limit in [BF16GEMM.Path.scalar, .avx2] {
                let other = BF16GEMM.withPathLimit(limit) { PrecisionMode.with(.bf16) { attention(q, k, v, c) } }
                XCTAssertEqual(other.scalars, best.scalars, "case \(index), \(limit)")
            }
            // The softmax's column loops without AVX-512F, then without AVX2 as well.
            let avx512 = sepme_vector_math_set_avx512(0)
            let avx2 = sepme_vector_math_uses_avx2()
            let narrower = PrecisionMode.with(.bf16) { attention(q, k, v, c) }
            _ = sepme_vector_math_set_avx2(0)
            let scalar = PrecisionMode.with(.bf16) { attention(q, k, v, c) }
            _ = sepme_vector_math_set_avx2(avx2)
            _ = sepme_vector_math_set_avx512(avx512)
            XCTAssertEqual(narrower.scalars, best.scalars, "case \(index), vector math without AVX-512F")
            XCTAssertEqual(scalar.scalars, best.scalars, "case \(index), scalar vector math")
        }
    }

    /// The exponentials packed as they are computed (`sepme_exp_columns_bf16`) are the words of
    /// `sepme_exp_columns_short` followed by `sepme_bf16_pack_right`, and the column sums the same floats: odd and
    /// even key counts, a partial last panel, one key, a tile row stride above its width, and scores that
    /// round to bf16 subnormals (flushed to zero) or underflow.
    func testExponentialsPackedAsComputedAreThePackedExponentials() throws {
        let panel = Int(SEPME_BF16_NR)
        for (lines, width, ld) in [(77, 128, 128), (50, 37, 40), (1, 70, 70), (512, 32, 32), (9, 96, 101)] {
            var tile = (random([lines * ld], seed: UInt64(lines * 1000 + width), scale: 8)).scalars
            if lines > 2 { tile[ld + 1] = -200 }  // e^(−200 − m): subnormal or zero
            let shift = (0..<width).map { i in (0..<lines).map { tile[$0 * ld + i] }.max() ?? 0 }
            let start = (0..<width).map { Float($0 % 5) * 0.25 }
            let count = sepme_bf16_packed_right_count(lines, width)
            var fused = [UInt16](repeating: 0xFFFF, count: count)
            var fusedSum = start
            let ran = tile.withUnsafeBufferPointer { s in
                sepme_exp_columns_bf16(&fused, s.baseAddress, lines, width, ld, shift, 0.7, &fusedSum, panel)
            }
            try XCTSkipIf(ran == 0, "this CPU has no AVX-512 BF16")
            var exps = tile
            var sum = start
            sepme_exp_columns_short(&exps, lines, width, ld, shift, 0.7, &sum)
            var packed = [UInt16](repeating: 0xFFFF, count: count)
            sepme_bf16_pack_right(&packed, exps, lines, width, ld, 1, 0, (width + panel - 1) / panel)
            let word = fused.indices.first { fused[$0] != packed[$0] }
            XCTAssertNil(word, "\(lines) keys × \(width) queries: word \(word ?? -1) differs")
            let column = sum.indices.first { fusedSum[$0].bitPattern != sum[$0].bitPattern }
            XCTAssertNil(column, "\(lines) keys × \(width) queries: the sum of column \(column ?? -1) differs")
        }
        XCTAssertEqual(sepme_exp_columns_bf16(nil, nil, 1, 1, 1, nil, 1, nil, 24), 0, "a panel not a multiple of 16")
    }

    /// `Tensor.multiHeadAttention` on token-major projections ([B, L, H·D]) gives, in a bf16 scope, the bits
    /// of its definition (heads split by a permute, `scaledDotProductAttention`, heads merged), which it
    /// reaches without the copies (the kernel reads each head in place); and in fp32 the same.
    func testMultiHeadAttentionReadsTheHeadsInPlace() {
        // (batch, heads, Lq, Lk, D, Dv): cross-attention to 77 keys, and several key tiles with partial
        // query and key blocks.
        for (index, c) in [(2, 3, 70, 77, 40, 24), (1, 2, 150, 600, 16, 16), (3, 1, 9, 5, 8, 12)].enumerated() {
            let (b, heads, lq, lk, d, dv) = c
            let seed = UInt64(1000 + 10 * index)
            let q = random([b, lq, heads * d], seed: seed, scale: 2)
            let k = random([b, lk, heads * d], seed: seed + 1, scale: 2)
            let v = random([b, lk, heads * dv], seed: seed + 2)
            func split(_ t: Tensor, _ width: Int) -> Tensor {
                t.reshaped([t.shape[0], t.shape[1], heads, width]).permuted([0, 2, 1, 3])
            }
            func definition() -> Tensor {
                Tensor.scaledDotProductAttention(split(q, d), split(k, d), split(v, dv)).permuted([0, 2, 1, 3])
                    .reshaped([b, lq, heads * dv])
            }
            for precision in [ComputePrecision.bf16, .fp32] {
                let (y, want) = PrecisionMode.with(precision) {
                    (Tensor.multiHeadAttention(q, k, v, heads: heads), definition())
                }
                XCTAssertEqual(y.shape, [b, lq, heads * dv])
                XCTAssertEqual(y.scalars, want.scalars, "case \(index), \(precision)")
            }
        }
    }

    func testRecordedAttentionStaysFP32() {
        let c = cases[0]
        let q = random([c.heads, c.lq, c.d], seed: 7)
        let k = random([c.heads, c.lk, c.d], seed: 8)
        let v = random([c.heads, c.lk, c.dv], seed: 9)
        let fp32 = attention(q, k, v, c)
        k.requiresGrad = true
        let recorded = PrecisionMode.with(.bf16) { attention(q, k, v, c) }
        XCTAssertEqual(recorded.scalars, fp32.scalars, "attention that records a gradient stays fp32")
        XCTAssertNotNil(recorded.gradNode)
        k.requiresGrad = false
        let noGrad = PrecisionMode.with(.bf16) { attention(q, k, v, c) }
        XCTAssertNotEqual(noGrad.scalars, fp32.scalars)
    }
}
