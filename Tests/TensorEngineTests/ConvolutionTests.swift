@testable import TensorEngine
import TestSupport
import XCTest

/// conv2d against torch.nn.functional.conv2d fixtures (scripts/make_kernel_fixtures.py) and
/// against central differences.
final class ConvolutionTests: XCTestCase {
    /// Forward parity: max abs error <= 1e-5 · max |reference|.
    func testForwardMatchesTorch() throws {
        try Self.assertMatchesTorchFixtures(label: "")
    }

    /// Every conv2d fixture through `Tensor.conv2d` as the engine now dispatches it: max abs error
    /// <= 1e-5 · max |reference| (`label` is appended to each case's name in failures).
    static func assertMatchesTorchFixtures(label: String) throws {
        let cases = try KernelFixtures().cases(op: "conv2d")
        XCTAssertEqual(cases.count, 8)
        for c in cases {
            let stride = try c.ints("stride")
            let padding = try c.ints("padding")
            let bias = c.entry["bias"] == nil ? nil : try c.tensor("bias")
            let y = Tensor.conv2d(
                try c.tensor("x"), weight: try c.tensor("weight"), bias: bias,
                stride: (stride[0], stride[1]), padding: (padding[0], padding[1]))
            assertClose(y, try c.tensor("out"), rtol: 1e-5, c.name + label)
        }
    }

    /// The banded im2col path (one output row per band) gives the same forward and backward as the
    /// default band size; forward is also checked against torch.
    func testSingleRowBandsMatchWholeImage() throws {
        for c in try KernelFixtures().cases(op: "conv2d") {
            let x = try c.tensor("x")
            let w = try c.tensor("weight")
            let ref = try c.tensor("out")
            let stride = try c.ints("stride")
            let padding = try c.ints("padding")
            let g = Conv2DGeometry(
                channels: x.shape[1], height: x.shape[2], width: x.shape[3],
                kernelH: w.shape[2], kernelW: w.shape[3], strideH: stride[0], strideW: stride[1],
                padH: padding[0], padW: padding[1])
            let budget = g.patchSize * g.outW  // exactly one output row per band
            let bias = c.entry["bias"] == nil ? nil : try c.tensor("bias")
            let y = Tensor(uninitialized: ref.shape)
            Conv2DKernel.forward(
                x: x.pointer, batch: x.shape[0], weight: .fp32(w.pointer), outChannels: w.shape[0],
                bias: bias?.pointer, g, out: y.pointer, columnBudget: budget)
            assertClose(y, ref, rtol: 1e-5, "\(c.name) banded forward")
            var rng = TestRNG(seed: 3)
            let dy = rng.tensor(ref.shape)
            var results: [(Tensor, Tensor)] = []
            for b in [budget, Conv2DKernel.maxColumnElements] {
                let dx = Tensor(zeros: x.shape)
                let dw = Tensor(zeros: w.shape)
                Conv2DKernel.backward(
                    dy: dy.pointer, x: x.pointer, batch: x.shape[0], weight: w.pointer,
                    outChannels: w.shape[0], g, dx: dx.pointer, dWeight: dw.pointer, columnBudget: b)
                results.append((dx, dw))
            }
            assertClose(results[0].0, results[1].0, rtol: 1e-6, "\(c.name) banded dx")
            assertClose(results[0].1, results[1].1, rtol: 1e-6, "\(c.name) banded dW")
        }
    }

    /// Central differences (eps 1e-2): conv2d is linear in each input, so the only error is Float32
    /// rounding; tolerance 2e-3 relative to the largest numeric gradient.
    private func gradientCheck(
        kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), bias: Bool,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var rng = TestRNG(seed: 42)
        let x = rng.tensor([2, 3, 7, 6])
        let w = rng.tensor([4, 3, kernel.0, kernel.1], -0.5, 0.5)
        let b = rng.tensor([4])
        let inputs = bias ? [x, w, b] : [x, w]
        checkGradients(
            "conv2d k\(kernel) s\(stride) p\(padding)", inputs: inputs, eps: 1e-2, tolerance: 2e-3,
            maxChecksPerInput: 128, file: file, line: line
        ) { t in
            Tensor.conv2d(t[0], weight: t[1], bias: bias ? t[2] : nil, stride: stride, padding: padding)
        }
    }

    func testGradientsStride1Pad0() { gradientCheck(kernel: (3, 3), stride: (1, 1), padding: (0, 0), bias: true) }
    func testGradientsStride1Pad1() { gradientCheck(kernel: (3, 3), stride: (1, 1), padding: (1, 1), bias: true) }
    func testGradientsStride2Pad0() { gradientCheck(kernel: (3, 3), stride: (2, 2), padding: (0, 0), bias: false) }
    func testGradientsStride2Pad1() { gradientCheck(kernel: (3, 3), stride: (2, 2), padding: (1, 1), bias: true) }
    func testGradientsPointwise() { gradientCheck(kernel: (1, 1), stride: (1, 1), padding: (0, 0), bias: true) }
    func testGradientsPointwiseStridedPadded() {
        gradientCheck(kernel: (1, 1), stride: (2, 2), padding: (1, 1), bias: true)
    }
    func testGradientsRectangular() { gradientCheck(kernel: (3, 2), stride: (2, 1), padding: (1, 0), bias: true) }

    /// A frozen weight and bias: the input still gets its gradient (equal to the one computed with
    /// trainable weights), and no weight/bias gradient appears.
    func testFrozenWeightPassesInputGradientOnly() {
        var rng = TestRNG(seed: 9)
        let x = rng.tensor([2, 3, 7, 6], requiresGrad: true)
        let w = rng.tensor([4, 3, 3, 3])
        let b = rng.tensor([4])
        let proj = rng.tensor([2, 4, 7, 6])
        (Tensor.conv2d(x, weight: w, bias: b, padding: 1) * proj).sum().backward()
        XCTAssertNil(w.grad)
        XCTAssertNil(b.grad)
        let frozenGrad = try! XCTUnwrap(x.grad)
        x.grad = nil
        w.requiresGrad = true
        b.requiresGrad = true
        (Tensor.conv2d(x, weight: w, bias: b, padding: 1) * proj).sum().backward()
        assertClose(frozenGrad, x.grad!, rtol: 1e-6, "dx with frozen vs trainable weight")
        XCTAssertNotNil(w.grad)
    }
}
