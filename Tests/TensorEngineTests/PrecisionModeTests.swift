import Foundation
import XCTest
@testable import TensorEngine

/// The bf16 scope (`PrecisionMode`): which products it changes (gradient-free linear layers and
/// convolutions), which it leaves in fp32 (recorded ones, `withFP32`), and that weights are converted once.
///
/// Convolution tolerance: against the fp32 convolution of the bf16-rounded inputs, both results are
/// sums of the same exact products in different orders, each within γ_n Σ|terms| of the exact sum
/// (n = K + 2 additions with the bias, u = 2^-24), so they differ by at most 2 γ_n Σ|terms|;
/// Σ|terms| is the convolution of |x| with |W| plus |b|.
/// Most of its shapes are smaller than the products `BF16Coverage.whereItPays` sends to bf16, so every test
/// runs with `.everyProduct` (`invokeTest`) unless it says otherwise.
final class PrecisionModeTests: XCTestCase {
    override func invokeTest() {
        PrecisionMode.withCoverage(.everyProduct) { super.invokeTest() }
    }

    private func random(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
        RandomTensors.uniform(shape, seed: seed, scale: scale)
    }

    private func rounded(_ t: Tensor) -> Tensor { RandomTensors.bf16Rounded(t) }

    func testLinearInScopeIsTheBF16ProductAndConvertsTheWeightOnce() {
        let x = random([2, 77, 96], seed: 1)
        let w = random([40, 96], seed: 2)
        let b = random([40], seed: 3)
        let cache = BF16WeightCache()
        let y1 = PrecisionMode.with(.bf16, cache: cache) { GradMode.withNoGrad { Tensor.linear(x, weight: w, bias: b) } }
        let y2 = PrecisionMode.with(.bf16, cache: cache) { Tensor.linear(x, weight: w, bias: b) }
        XCTAssertEqual(cache.count, 1, "one weight, converted once")
        XCTAssertEqual(y1.scalars, y2.scalars)
        var expected = [Float](repeating: 0, count: 2 * 77 * 40)
        for r in 0..<(2 * 77) { for j in 0..<40 { expected[r * 40 + j] = b.scalars[j] } }
        let wT = w.transposed(0, 1)
        BF16GEMM.multiply(
            m: 2 * 77, n: 40, k: 96, a: x.pointer, lda: 96, b: wT.pointer, ldb: 40, c: &expected, ldc: 40, accumulate: true)
        XCTAssertEqual(y1.scalars, expected, "the scope's linear is the BF16 product with the bias as its start")
        let fp32 = Tensor.linear(x, weight: w, bias: b)
        XCTAssertNotEqual(y1.scalars, fp32.scalars, "bf16 rounding shows")
        XCTAssertEqual(PrecisionMode.current, .fp32)
    }

    /// A cache that retains nothing keeps nothing and gives the bits a retaining one gives, for a linear
    /// layer, an im2col convolution and a Winograd convolution.
    func testCacheThatRetainsNothingGivesTheSameProducts() {
        let x = random([2, 77, 96], seed: 6)
        let w = random([40, 96], seed: 7)
        let image = random([2, 16, 12, 12], seed: 8)
        let kernel = random([24, 16, 3, 3], seed: 9, scale: 0.5)
        func products(_ cache: BF16WeightCache) -> [[Float]] {
            PrecisionMode.with(.bf16, cache: cache) {
                [
                    Tensor.linear(x, weight: w).scalars,
                    Tensor.withConvolutionRoute(.im2col) { Tensor.conv2d(image, weight: kernel, stride: (1, 1), padding: (1, 1)).scalars },
                    Tensor.withConvolutionRoute(.winograd) { Tensor.conv2d(image, weight: kernel, stride: (1, 1), padding: (1, 1)).scalars }
                ]
            }
        }
        let retaining = BF16WeightCache()
        let transient = BF16WeightCache(retention: .nothing)
        let expected = products(retaining)
        XCTAssertEqual(retaining.count, 3, "a linear, an im2col and a Winograd weight")
        XCTAssertEqual(products(transient), expected)
        XCTAssertEqual(products(transient), expected, "converted again, the same bits")
        XCTAssertEqual(transient.count, 0)
        XCTAssertEqual(transient.byteCount, 0)
        XCTAssertNotEqual(
            expected[2], Tensor.withConvolutionRoute(.winograd) { Tensor.conv2d(image, weight: kernel, stride: (1, 1), padding: (1, 1)).scalars },
            "bf16 rounding shows in the Winograd products")
    }

    /// A cache that replaces weights gives the bits a cache of copies gives and releases the storage of
    /// every weight it converts (their later calls read only the copies: a read of a released storage
    /// would stop the test); a convolution keeps the form of its first conversion where a later call
    /// would take the other route.
    func testCacheThatReplacesWeightsReleasesTheirStorageAndGivesTheSameProducts() {
        let x = random([2, 77, 96], seed: 6)
        let image = random([2, 16, 12, 12], seed: 8)
        // Fresh weights for each cache: the replacing cache frees the ones it converts.
        func weights() -> (linear: Tensor, packed: Tensor, transformed: Tensor) {
            (random([40, 96], seed: 7), random([24, 16, 3, 3], seed: 9, scale: 0.5), random([24, 16, 3, 3], seed: 10, scale: 0.5))
        }
        func conv(_ kernel: Tensor, _ route: Tensor.ConvolutionRoute) -> [Float] {
            Tensor.withConvolutionRoute(route) { Tensor.conv2d(image, weight: kernel, stride: (1, 1), padding: (1, 1)).scalars }
        }
        func products(_ w: (linear: Tensor, packed: Tensor, transformed: Tensor), _ cache: BF16WeightCache) -> [[Float]] {
            PrecisionMode.with(.bf16, cache: cache) {
                [Tensor.linear(x, weight: w.linear).scalars, conv(w.packed, .im2col), conv(w.transformed, .winograd)]
            }
        }
        let copies = BF16WeightCache()
        let kept = weights()
        let expected = products(kept, copies)
        XCTAssertNotEqual(
            expected[1], PrecisionMode.with(.bf16, cache: copies) { conv(kept.packed, .winograd) }, "the two routes' bits differ")
        let replacing = BF16WeightCache(retention: .copiesReplacingWeights)
        let replaced = weights()
        let liveBefore = MemoryStatistics.shared.liveBytes
        XCTAssertEqual(products(replaced, replacing), expected)
        XCTAssertEqual(copies.releasedByteCount, 0)
        XCTAssertFalse(kept.linear.storage.isReleased || kept.packed.storage.isReleased || kept.transformed.storage.isReleased)
        XCTAssertTrue(replaced.linear.storage.isReleased && replaced.packed.storage.isReleased && replaced.transformed.storage.isReleased)
        let releasedBytes = (40 * 96 + 2 * 24 * 16 * 9) * MemoryLayout<Float>.stride
        XCTAssertEqual(replacing.releasedByteCount, releasedBytes)
        XCTAssertLessThanOrEqual(MemoryStatistics.shared.liveBytes, liveBefore - releasedBytes + replacing.byteCount)
        XCTAssertEqual(products(replaced, replacing), expected, "converted once: the same bits from the copies")
        PrecisionMode.with(.bf16, cache: replacing) {
            XCTAssertEqual(conv(replaced.packed, .winograd), expected[1], "a weight packed for im2col products keeps that form")
            XCTAssertEqual(conv(replaced.transformed, .im2col), expected[2], "a transformed weight keeps the Winograd route")
        }
        XCTAssertEqual(replacing.count, 3, "nothing converted again")
        XCTAssertEqual(replacing.releasedByteCount, releasedBytes)
    }

    func testRecordedProductsAndWithFP32StayFP32() {
        let x = random([5, 33], seed: 4)
        let w = random([7, 33], seed: 5)
        let fp32 = Tensor.linear(x, weight: w)
        w.requiresGrad = true
        let recorded = PrecisionMode.with(.bf16) { Tensor.linear(x, weight: w) }
        XCTAssertEqual(recorded.scalars, fp32.scalars, "a product that records a gradient stays fp32")
        XCTAssertNotNil(recorded.gradNode)
        w.requiresGrad = false
        let inner = PrecisionMode.with(.bf16) {
            PrecisionMode.withFP32 { (PrecisionMode.current, Tensor.linear(x, weight: w)) }
        }
        XCTAssertEqual(inner.0, .fp32)
        XCTAssertEqual(inner.1.scalars, fp32.scalars, "withFP32 inside a bf16 scope")
    }

    func testConvolutionsInScopeWithinTheSummationBound() {
        // 3×3 padded (im2col, several bands with a small column budget is not needed: the kernel bands
        // by its own budget), strided, and pointwise (the input planes are the columns).
        let cases: [(cin: Int, cout: Int, size: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)] = [
            (8, 13, 9, 3, 1, 1, true), (5, 33, 11, 3, 2, 1, false), (16, 20, 7, 1, 1, 0, true), (3, 2, 4, 3, 1, 0, true)
        ]
        for (index, c) in cases.enumerated() {
            let x = random([2, c.cin, c.size, c.size], seed: UInt64(10 + index))
            let w = random([c.cout, c.cin, c.kernel, c.kernel], seed: UInt64(20 + index), scale: 0.5)
            let b = c.bias ? random([c.cout], seed: UInt64(30 + index)) : nil
            let cache = BF16WeightCache()
            let y = PrecisionMode.with(.bf16, cache: cache) {
                Tensor.conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding)
            }
            XCTAssertEqual(cache.count, 1)
            let reference = Tensor.conv2d(rounded(x), weight: rounded(w), bias: b, stride: c.stride, padding: c.padding)
            let magnitude = Tensor.conv2d(rounded(x).abs(), weight: rounded(w).abs(), bias: b?.abs(), stride: c.stride, padding: c.padding)
            let terms = Double(c.cin * c.kernel * c.kernel + 2)
            let bound = 2 * 1.01 * terms * 0x1p-24
            XCTAssertEqual(y.shape, reference.shape)
            for i in 0..<y.count {
                let error = Double(abs(y.pointer[i] - reference.pointer[i]))
                if error > bound * Double(magnitude.pointer[i]) {
                    XCTFail("case \(index) element \(i): \(y.pointer[i]) vs \(reference.pointer[i])")
                    break
                }
            }
        }
    }

    /// `.whereItPays` (the default coverage): linear layers and convolutions with fewer outputs per packed
    /// value than `minimumBF16Outputs` or sums shorter than `minimumBF16Depth`, and attention narrower than
    /// `minimumBF16HeadWidth`, give fp32's bits and convert no weight; at the thresholds they are bf16.
    /// (On a CPU where bf16 pays at all; `BF16Payoff` below.)
    func testWhereItPaysLeavesSmallProductsInFP32() {
        let (outputs, depth, width) =
            (PrecisionMode.minimumBF16Outputs, PrecisionMode.minimumBF16Depth, PrecisionMode.minimumBF16HeadWidth)
        BF16Payoff.withAssumedVerdict(true) {
            PrecisionMode.withCoverage(.whereItPays) {
                func linear(in inF: Int, out outF: Int) -> (bf16: Bool, converted: Int) {
                    let x = random([9, inF], seed: 20)
                    let w = random([outF, inF], seed: 21)
                    let cache = BF16WeightCache()
                    let y = PrecisionMode.with(.bf16, cache: cache) { Tensor.linear(x, weight: w) }
                    return (y.scalars != Tensor.linear(x, weight: w).scalars, cache.count)
                }
                XCTAssertTrue(linear(in: depth, out: outputs) == (true, 1))
                XCTAssertTrue(linear(in: depth - 1, out: outputs) == (false, 0), "sums too short")
                XCTAssertTrue(linear(in: depth, out: outputs - 1) == (false, 0), "too few outputs")

                func convolution(in cin: Int, out cout: Int) -> (bf16: Bool, converted: Int) {
                    let x = random([1, cin, 6, 6], seed: 22)
                    let w = random([cout, cin, 3, 3], seed: 23)
                    let cache = BF16WeightCache()
                    let y = PrecisionMode.with(.bf16, cache: cache) { Tensor.conv2d(x, weight: w, padding: 1) }
                    return (y.scalars != Tensor.conv2d(x, weight: w, padding: 1).scalars, cache.count)
                }
                let channels = (depth + 8) / 9  // 3 × 3 taps: the shortest input that reaches the depth
                XCTAssertTrue(convolution(in: channels, out: outputs) == (true, 1))
                XCTAssertTrue(convolution(in: (depth - 1) / 9, out: outputs) == (false, 0), "sums too short")
                XCTAssertTrue(convolution(in: channels, out: outputs - 1) == (false, 0), "too few outputs")
                // A convolution on the Winograd route (128 channels each side, 36 tiles) stays on it, with its
                // bf16 points (`WinogradBF16Weight`), under either coverage.
                func winograd() -> (bf16: Bool, converted: Int) {
                    let x = random([1, 128, 24, 24], seed: 27)
                    let w = random([128, 128, 3, 3], seed: 28, scale: 0.05)
                    XCTAssertEqual(Tensor.convolutionRoute(batch: 1, channels: 128, height: 24, width: 24, outChannels: 128), .winograd)
                    let cache = BF16WeightCache()
                    let y = PrecisionMode.with(.bf16, cache: cache) { Tensor.conv2d(x, weight: w, padding: 1) }
                    return (y.scalars != Tensor.conv2d(x, weight: w, padding: 1).scalars, cache.count)
                }
                XCTAssertTrue(winograd() == (true, 1), "the Winograd route's bf16 points")
                PrecisionMode.withCoverage(.everyProduct) { XCTAssertTrue(winograd() == (true, 1)) }

                func attention(d: Int, dv: Int) -> Bool {
                    let q = random([2, 40, d], seed: 24)
                    let k = random([2, 50, d], seed: 25)
                    let v = random([2, 50, dv], seed: 26)
                    let y = PrecisionMode.with(.bf16) { Tensor.scaledDotProductAttention(q, k, v) }
                    return y.scalars != Tensor.scaledDotProductAttention(q, k, v).scalars
                }
                XCTAssertTrue(attention(d: width, dv: width))
                XCTAssertFalse(attention(d: width - 1, dv: width), "queries and keys too narrow")
                XCTAssertFalse(attention(d: width, dv: width - 1), "values too narrow")
            }
        }
    }

    /// Where bf16 products do not pay on the CPU, `.whereItPays` leaves even large products in fp32
    /// (fp32's bits, no weight converted), while `.everyProduct` still runs them in bf16.
    func testNoProductRunsInBF16WhereBF16DoesNotPay() {
        let (outputs, depth, width) =
            (PrecisionMode.minimumBF16Outputs, PrecisionMode.minimumBF16Depth, PrecisionMode.minimumBF16HeadWidth)
        let x = random([9, 2 * depth], seed: 30)
        let w = random([2 * outputs, 2 * depth], seed: 31)
        let q = random([2, 40, width], seed: 32)
        let k = random([2, 50, width], seed: 33)
        let v = random([2, 50, width], seed: 34)
        func run(_ coverage: BF16Coverage) -> (linearBF16: Bool, converted: Int, attentionBF16: Bool) {
            BF16Payoff.withAssumedVerdict(false) {
                PrecisionMode.withCoverage(coverage) {
                    let cache = BF16WeightCache()
                    let y = PrecisionMode.with(.bf16, cache: cache) { Tensor.linear(x, weight: w) }
                    let a = PrecisionMode.with(.bf16) { Tensor.scaledDotProductAttention(q, k, v) }
                    return (
                        y.scalars != Tensor.linear(x, weight: w).scalars, cache.count,
                        a.scalars != Tensor.scaledDotProductAttention(q, k, v).scalars
                    )
                }
            }
        }
        XCTAssertTrue(run(.whereItPays) == (false, 0, false))
        XCTAssertTrue(run(.everyProduct) == (true, 1, true))
    }

    /// The verdict's rule: AMX tiles pay; AVX-512 BF16 dot products pay from `minimumRateRatio` times the
    /// fp32 FMA rate (AMD Zen 5 runs them at about 2×, Intel Xeons without AMX at about 0.5×); bf16
    /// widened to fp32 never pays. The measured verdict is the rule applied to this CPU's rates.
    func testBF16PayoffRule() {
        let ratio = BF16Payoff.minimumRateRatio
        XCTAssertTrue(BF16Payoff.Verdict(path: .amx).pays)
        XCTAssertFalse(BF16Payoff.Verdict(path: .avx2).pays)
        XCTAssertFalse(BF16Payoff.Verdict(path: .scalar).pays)
        XCTAssertFalse(BF16Payoff.Verdict(path: .avx512BF16).pays, "no rates measured")
        XCTAssertFalse(BF16Payoff.Verdict(path: .avx512BF16, bf16Rate: 170.9, fp32Rate: 350.2).pays)
        XCTAssertFalse(BF16Payoff.Verdict(path: .avx512BF16, bf16Rate: 0.99 * ratio * 300, fp32Rate: 300).pays)
        XCTAssertTrue(BF16Payoff.Verdict(path: .avx512BF16, bf16Rate: ratio * 300, fp32Rate: 300).pays)
        XCTAssertTrue(BF16Payoff.Verdict(path: .avx512BF16, bf16Rate: 650, fp32Rate: 340).pays)

        let measured = BF16Payoff.verdict
        XCTAssertEqual(measured.path, BF16GEMM.bestPath)
        XCTAssertEqual(measured.pays, BF16Payoff.Verdict(path: measured.path, bf16Rate: measured.bf16Rate, fp32Rate: measured.fp32Rate).pays)
        if measured.path == .avx512BF16 {
            XCTAssertGreaterThan(measured.bf16Rate ?? 0, 0)
            XCTAssertGreaterThan(measured.fp32Rate ?? 0, 0)
        }
    }
}
