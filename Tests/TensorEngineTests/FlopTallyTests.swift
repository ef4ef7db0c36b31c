import XCTest
@testable import TensorEngine

/// `FlopTally`, which the benchmarks divide their times by: 2 operations per multiply-add of each matrix
/// product, forward and backward, counted from the shapes as `torch.utils.flop_counter` counts them (a
/// convolution as its direct sums whatever route runs it), only inside `counting` and only on the
/// counting task.
final class FlopTallyTests: XCTestCase {
    private func random(_ shape: [Int], seed: UInt64) -> Tensor { RandomTensors.uniform(shape, seed: seed) }

    func testEachProductCountsTwiceItsMultiplyAdds() {
        let x = random([2, 7, 24], seed: 1)
        let w = random([10, 24], seed: 2)
        XCTAssertEqual(FlopTally.counting { Tensor.linear(x, weight: w, bias: random([10], seed: 3)) }.flops, 2 * 14 * 24 * 10)

        let a = random([3, 5, 6], seed: 4)
        let b = random([6, 9], seed: 5)
        XCTAssertEqual(FlopTally.counting { Tensor.matmul(a, b) }.flops, 2 * 3 * 5 * 9 * 6, "batch broadcast: each output sums K terms")

        // [2, 4, 9, 11] * [5, 4, 3, 3], stride 2, padding 1 -> [2, 5, 5, 6]: each output sums 4·3·3 terms.
        let image = random([2, 4, 9, 11], seed: 6)
        let kernel = random([5, 4, 3, 3], seed: 7)
        let conv = FlopTally.counting { Tensor.conv2d(image, weight: kernel, stride: (2, 2), padding: (1, 1)) }
        XCTAssertEqual(conv.result.shape, [2, 5, 5, 6])
        XCTAssertEqual(conv.flops, 2 * Double(2 * 5 * 5 * 6 * 36))

        // Attention: the scores (Lq·Lk·D per head) and the weighted values (Lq·Lk·Dv per head).
        let q = random([2, 3, 8, 16], seed: 8)
        let k = random([2, 3, 12, 16], seed: 9)
        let v = random([2, 3, 12, 20], seed: 10)
        let heads = 2 * 3
        XCTAssertEqual(
            FlopTally.counting { Tensor.scaledDotProductAttention(q, k, v) }.flops, 2 * Double(heads * 8 * 12 * (16 + 20)))
    }

    /// A 3×3 convolution on the Winograd route counts its direct sums, as on any other route.
    func testAConvolutionCountsTheSameOnEveryRoute() {
        let image = random([1, 16, 24, 24], seed: 11)
        let kernel = random([32, 16, 3, 3], seed: 12)
        let counts = [Tensor.ConvolutionRoute.winograd, .direct, .im2col].map { route in
            Tensor.withConvolutionRoute(route) {
                FlopTally.counting { Tensor.conv2d(image, weight: kernel, stride: (1, 1), padding: (1, 1)) }.flops
            }
        }
        XCTAssertEqual(counts, Array(repeating: 2 * Double(32 * 24 * 24 * 16 * 9), count: 3))
    }

    /// Multi-head attention counts the same whether the bf16 kernel reads the heads in place or the heads
    /// are permuted out for `scaledDotProductAttention`.
    func testMultiHeadAttentionCountsOnceOnBothPaths() {
        let (b, lq, lk, heads, d, dv) = (2, 64, 48, 4, 16, 24)
        let q = random([b, lq, heads * d], seed: 13)
        let k = random([b, lk, heads * d], seed: 14)
        let v = random([b, lk, heads * dv], seed: 15)
        let expected = 2 * Double(b * heads * lq * lk * (d + dv))
        let fp32 = FlopTally.counting { Tensor.multiHeadAttention(q, k, v, heads: heads) }.flops
        let bf16 = PrecisionMode.withCoverage(.everyProduct) {
            PrecisionMode.with(.bf16, cache: BF16WeightCache()) {
                GradMode.withNoGrad { FlopTally.counting { Tensor.multiHeadAttention(q, k, v, heads: heads) }.flops }
            }
        }
        XCTAssertEqual(fp32, expected)
        XCTAssertEqual(bf16, expected)
    }

    /// A backward rule counts one product of the forward's size per gradient it computes: a frozen input
    /// costs none.
    func testBackwardCountsTheGradientsItComputes() {
        func forwardAndBackward(_ body: () -> Tensor) -> Double {
            FlopTally.counting { body().sum().backward() }.flops
        }
        func trainable(_ shape: [Int], seed: UInt64) -> Tensor {
            let t = random(shape, seed: seed)
            t.requiresGrad = true
            return t
        }
        let linearOnce = 2 * Double(14 * 24 * 10)
        let x = random([2, 7, 24], seed: 20)
        XCTAssertEqual(forwardAndBackward { Tensor.linear(x, weight: trainable([10, 24], seed: 21)) }, 2 * linearOnce, "dW only")
        XCTAssertEqual(
            forwardAndBackward { Tensor.linear(trainable([2, 7, 24], seed: 22), weight: trainable([10, 24], seed: 23)) },
            3 * linearOnce, "dx and dW")

        let matmulOnce = 2 * Double(3 * 5 * 9 * 6)
        XCTAssertEqual(
            forwardAndBackward { Tensor.matmul(trainable([3, 5, 6], seed: 24), random([6, 9], seed: 25)) }, 2 * matmulOnce)
        XCTAssertEqual(
            forwardAndBackward { Tensor.matmul(trainable([3, 5, 6], seed: 26), trainable([6, 9], seed: 27)) }, 3 * matmulOnce,
            "the broadcast operand's gradient is one product of the forward's size, then a sum")

        let convOnce = 2 * Double(2 * 5 * 5 * 6 * 36)
        let image = random([2, 4, 9, 11], seed: 28)
        XCTAssertEqual(
            forwardAndBackward {
                Tensor.conv2d(image, weight: trainable([5, 4, 3, 3], seed: 29), bias: trainable([5], seed: 30), stride: (2, 2), padding: (1, 1))
            }, 2 * convOnce, "dW (the bias gradient is a sum, not a product)")

        // Attention, 6 heads of 8 queries, 12 keys, D 16, Dv 20.
        let (q, k, v) = (trainable([2, 3, 8, 16], seed: 31), trainable([2, 3, 12, 16], seed: 32), trainable([2, 3, 12, 20], seed: 33))
        let pairs = Double(6 * 8 * 12)
        XCTAssertEqual(
            forwardAndBackward { Tensor.scaledDotProductAttention(q, k, v) }, 2 * pairs * (16 + 20) * 3,
            "forward QKᵀ and PV; backward dV, dP, dQ and dK")
        let frozenQ = random([2, 3, 8, 16], seed: 34)
        let frozenK = random([2, 3, 12, 16], seed: 35)
        XCTAssertEqual(
            forwardAndBackward { Tensor.scaledDotProductAttention(frozenQ, frozenK, v) }, 2 * pairs * (16 + 20 + 20), "dV only")
    }

    /// Work outside `counting` adds nothing; a nested `counting` keeps its own operations.
    func testOnlyTheInnermostCountingScopeCounts() {
        let a = random([4, 8], seed: 16)
        let b = random([8, 5], seed: 17)
        _ = Tensor.matmul(a, b)
        let outer = FlopTally.counting { () -> Double in
            _ = Tensor.matmul(a, b)
            let inner = FlopTally.counting { Tensor.matmul(a, b) }.flops
            XCTAssertEqual(inner, 2 * 4 * 5 * 8)
            return inner
        }
        XCTAssertEqual(outer.flops, 2 * 4 * 5 * 8, "the outer scope counts its own product, not the inner one's")
        XCTAssertEqual(outer.result, 2 * 4 * 5 * 8)
    }
}
