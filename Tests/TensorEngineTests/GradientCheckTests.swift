import TensorEngine
import TestSupport
import XCTest

/// Every differentiable op of the engine checked against central differences.
/// Tolerance: relative error of the worst element (see `checkGradients`), eps 1e-2 unless stated:
/// smooth ops 1e-2; ops with kinks (abs, clamp, relu) are probed away from the kinks.
final class GradientCheckTests: XCTestCase {
    var rng = TestRNG(seed: 1234)

    func testBroadcastingArithmetic() {
        let a = rng.tensor([2, 3, 4, 5])
        let b = rng.tensor([3, 1, 5])
        let c = rng.tensor([5], 0.5, 2)
        checkGradients("add", inputs: [a, b]) { $0[0] + $0[1] }
        checkGradients("sub", inputs: [a, b]) { $0[0] - $0[1] }
        checkGradients("mul", inputs: [a, b]) { $0[0] * $0[1] }
        checkGradients("div", inputs: [a, c]) { $0[0] / $0[1] }
        checkGradients("channel broadcast", inputs: [rng.tensor([2, 4, 3, 3]), rng.tensor([1, 4, 1, 1])]) { $0[0] * $0[1] + $0[1] }
        checkGradients("scalar ops", inputs: [a]) { (2 - $0[0] * 3 + 1) / 4 }
    }

    func testUnaryMath() {
        let pos = rng.tensor([3, 7], 0.5, 2)
        checkGradients("exp", inputs: [rng.tensor([3, 7])]) { $0[0].exp() }
        checkGradients("log", inputs: [pos]) { $0[0].log() }
        checkGradients("sqrt", inputs: [pos]) { $0[0].sqrt() }
        checkGradients("pow 3", inputs: [pos]) { $0[0].pow(3) }
        checkGradients("pow -0.5", inputs: [pos]) { $0[0].pow(-0.5) }
        checkGradients("square", inputs: [rng.tensor([3, 7])]) { $0[0].square() }
        // Away from the kink at 0 / the clamp bounds.
        let away = Tensor(rng.tensor([40]).scalars.map { $0 > 0 ? $0 + 0.1 : $0 - 0.1 }, shape: [40])
        checkGradients("abs", inputs: [away]) { $0[0].abs() }
        checkGradients("relu", inputs: [away]) { $0[0].relu() }
        let clampIn = Tensor(away.scalars.map { abs(abs($0) - 0.5) < 0.05 ? $0 * 1.3 : $0 }, shape: [40])
        checkGradients("clamp", inputs: [clampIn]) { $0[0].clamp(min: -0.5, max: 0.5) }
    }

    func testActivations() {
        let x = rng.tensor([4, 9], -3, 3)
        checkGradients("sigmoid", inputs: [x]) { $0[0].sigmoid() }
        checkGradients("tanh", inputs: [x]) { $0[0].tanh() }
        checkGradients("silu", inputs: [x]) { $0[0].silu() }
        checkGradients("gelu", inputs: [x]) { $0[0].gelu() }
        checkGradients("gelu tanh", inputs: [x]) { $0[0].geluTanh() }
        checkGradients("quick gelu", inputs: [x]) { $0[0].quickGelu() }
    }

    func testReductions() {
        let x = rng.tensor([3, 4, 5])
        checkGradients("sum", inputs: [x]) { $0[0].sum() }
        checkGradients("mean", inputs: [x]) { $0[0].mean() }
        checkGradients("sum axes 0,2", inputs: [x]) { $0[0].sum(axes: [0, 2]) }
        checkGradients("sum axis -1 keep", inputs: [x]) { $0[0].sum(axes: [-1], keepDims: true) }
        checkGradients("mean axis 1", inputs: [x]) { $0[0].mean(axes: [1]) }
        checkGradients("variance", inputs: [x]) { $0[0].variance(axes: [1, 2], keepDims: true) }
        checkGradients("variance unbiased", inputs: [x]) { $0[0].variance(axes: [0], unbiased: true) }
        checkGradients("expand", inputs: [rng.tensor([3, 1, 5])]) { $0[0].expanded(to: [2, 3, 4, 5]) }
    }

    func testMovement() {
        let x = rng.tensor([2, 3, 4, 5])
        checkGradients("reshape", inputs: [x]) { $0[0].reshaped([6, -1]) * 2 }
        checkGradients("permute", inputs: [x]) { $0[0].permuted([0, 2, 3, 1]) }
        checkGradients("transpose", inputs: [x]) { $0[0].transposed(1, 3) }
        checkGradients("slice", inputs: [x]) { $0[0].sliced(axis: 2, 1..<3) }
        checkGradients("concat", inputs: [x, rng.tensor([2, 3, 2, 5])]) { Tensor.concat([$0[0], $0[1], $0[0]], axis: 2) }
        checkGradients("split", inputs: [x]) { parts in
            let p = parts[0].split(sizes: [1, 3], axis: 2)
            return p[1].sum(axes: [2], keepDims: true) * p[0]
        }
        checkGradients("chunk", inputs: [x]) { $0[0].chunked(2, axis: 2)[1] }
        checkGradients("upsample", inputs: [rng.tensor([2, 3, 4, 5])]) { $0[0].upsampleNearest2x() }
        checkGradients("embedding", inputs: [rng.tensor([6, 4])]) {
            Tensor.embedding($0[0], indices: [0, 5, 2, 2, 1, 0], indexShape: [2, 3])
        }
    }

    func testMatmulAndLinear() {
        checkGradients("matmul 2d", inputs: [rng.tensor([5, 7]), rng.tensor([7, 3])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("matmul batched", inputs: [rng.tensor([2, 3, 5, 7]), rng.tensor([2, 3, 7, 4])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("matmul broadcast b", inputs: [rng.tensor([2, 5, 7]), rng.tensor([7, 4])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("matmul broadcast a", inputs: [rng.tensor([5, 7]), rng.tensor([3, 7, 4])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("matmul batch 1 vs 3", inputs: [rng.tensor([1, 5, 7]), rng.tensor([3, 7, 4])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("linear", inputs: [rng.tensor([2, 3, 6]), rng.tensor([4, 6]), rng.tensor([4])]) {
            Tensor.linear($0[0], weight: $0[1], bias: $0[2])
        }
        checkGradients("linear no bias", inputs: [rng.tensor([5, 6]), rng.tensor([4, 6])]) { Tensor.linear($0[0], weight: $0[1]) }
    }

    func testNormalisation() {
        checkGradients("softmax", inputs: [rng.tensor([3, 4, 9], -2, 2)]) { $0[0].softmax() }
        checkGradients("layer norm", inputs: [rng.tensor([3, 4, 10]), rng.tensor([10]), rng.tensor([10])]) {
            Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2])
        }
        checkGradients("layer norm no affine", inputs: [rng.tensor([5, 8])]) { Tensor.layerNorm($0[0], weight: nil, bias: nil) }
        checkGradients("group norm", inputs: [rng.tensor([2, 6, 5, 4]), rng.tensor([6]), rng.tensor([6])]) {
            Tensor.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2], eps: 1e-6)
        }
        checkGradients("group norm 1d", inputs: [rng.tensor([2, 8, 7]), rng.tensor([8]), rng.tensor([8])]) {
            Tensor.groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2])
        }
    }

    /// Gradients only where needed: a frozen weight gets no gradient, and the trainable one matches.
    func testGradientsOnlyWhereNeeded() {
        let frozen = rng.tensor([4, 6])
        let trainable = rng.tensor([6, 6], requiresGrad: true)
        let x = rng.tensor([3, 6])
        let y = Tensor.linear(Tensor.linear(x, weight: trainable), weight: frozen).sum()
        y.backward()
        XCTAssertNil(frozen.grad)
        XCTAssertNotNil(trainable.grad)
        XCTAssertNil(y.gradNode, "the graph is released after backward")
    }

    /// The graph links nodes, not tensors: an activation no backward rule needs is freed at once.
    func testActivationsNoRuleNeedsAreFreedDuringForward() {
        let x = Tensor(zeros: [512, 512], requiresGrad: true)  // 1 MiB
        let frozen = Tensor(filled: 0.5, shape: [512, 512])
        let before = MemoryStatistics.shared.liveBytes
        var y = x * 2
        for _ in 0..<10 { y = Tensor.linear(y * 2, weight: frozen) }  // 20 intermediates of 1 MiB
        let held = MemoryStatistics.shared.liveBytes - before
        XCTAssertLessThan(held, 4 << 20, "intermediates feeding a frozen linear or a scalar product must not be kept")
        y.sum().backward()
        XCTAssertEqual(x.grad?.shape, [512, 512])
        XCTAssertNotEqual(x.grad!.pointer[0], 0)
    }

    func testNoGradModeRecordsNothing() {
        let w = rng.tensor([3, 3], requiresGrad: true)
        let y = GradMode.withNoGrad { (w * w).sum() }
        XCTAssertNil(y.gradNode)
        XCTAssertFalse(y.needsGrad)
    }

    func testAccumulationAcrossUses() {
        // y = sum(x * x + x) => dy/dx = 2x + 1, with x used three times.
        let x = rng.tensor([5], requiresGrad: true)
        (x * x + x).sum().backward()
        for i in 0..<5 { XCTAssertEqual(x.grad!.pointer[i], 2 * x.pointer[i] + 1, accuracy: 1e-6) }
    }
}
