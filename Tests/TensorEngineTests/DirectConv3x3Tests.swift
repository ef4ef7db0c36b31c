@testable import TensorEngine
import TestSupport
import XCTest

/// The direct 3×3 convolution (`DirectConv3x3`, CMatrixKernels/conv3x3.c) on every kernel path this CPU
/// has: against torch's conv2d fixtures, against the im2col + SGEMM route (path 0), forward and input
/// gradient, with the AVX2 + FMA and AVX-512F paths equal bit for bit.
final class DirectConv3x3Tests: XCTestCase {
    /// Runs `body` with the kernel limited to each path the CPU has (0 = the im2col route); on paths
    /// 1 and 2 every 3×3 stride-1 padding-1 convolution takes the kernel, whatever its image size.
    private func forEachPath(_ body: (Int) throws -> Void) rethrows {
        let previous = DirectConv3x3.setPathLimit(2)
        defer { DirectConv3x3.setPathLimit(previous) }
        let best = DirectConv3x3.path
        for path in 0...best {
            DirectConv3x3.setPathLimit(path)
            try Tensor.withConvolutionRoute(path == 0 ? .im2col : .direct) { try body(path) }
        }
    }

    private struct Case {
        let batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int, bias: Bool
    }

    /// Shapes of the toy UNet (conv_in 3→32, conv_out 32→3, 32/64/96 channels at 32², 16², 8²), a
    /// partial channel block (13), odd sizes, and one image (whose channels split over the workers).
    private let cases = [
        Case(batch: 2, inChannels: 3, outChannels: 32, height: 32, width: 32, bias: true),
        Case(batch: 3, inChannels: 32, outChannels: 3, height: 32, width: 32, bias: true),
        Case(batch: 2, inChannels: 96, outChannels: 64, height: 16, width: 16, bias: true),
        Case(batch: 1, inChannels: 192, outChannels: 96, height: 8, width: 8, bias: false),
        Case(batch: 1, inChannels: 5, outChannels: 13, height: 7, width: 5, bias: true),
        Case(batch: 4, inChannels: 7, outChannels: 17, height: 1, width: 3, bias: false)
    ]

    /// Forward and input gradient of every case on the current path, through `Conv2DKernel` as conv2d calls it.
    private func run(_ c: Case) -> (out: Tensor, dx: Tensor) {
        var rng = TestRNG(seed: UInt64(c.inChannels * 1000 + c.outChannels))
        let x = rng.tensor([c.batch, c.inChannels, c.height, c.width])
        let w = rng.tensor([c.outChannels, c.inChannels, 3, 3], -0.5, 0.5)
        let b = c.bias ? rng.tensor([c.outChannels]) : nil
        let dy = rng.tensor([c.batch, c.outChannels, c.height, c.width])
        let g = Conv2DGeometry(
            channels: c.inChannels, height: c.height, width: c.width, kernelH: 3, kernelW: 3,
            strideH: 1, strideW: 1, padH: 1, padW: 1)
        let out = Tensor(uninitialized: [c.batch, c.outChannels, c.height, c.width])
        Conv2DKernel.forward(
            x: x.pointer, batch: c.batch, weight: .fp32(w.pointer), outChannels: c.outChannels, bias: b?.pointer, g,
            out: out.pointer)
        let dx = Tensor(zeros: x.shape)
        Conv2DKernel.backward(
            dy: dy.pointer, x: x.pointer, batch: c.batch, weight: w.pointer, outChannels: c.outChannels, g,
            dx: dx.pointer, dWeight: nil)
        return (out, dx)
    }

    /// Each path against im2col + SGEMM: max abs error ≤ 1e-5 · max |reference| (only the order of
    /// the fp32 sums differs); AVX2 and AVX-512 identical.
    func testPathsMatchIm2ColAndEachOther() {
        var results: [Int: [(out: Tensor, dx: Tensor)]] = [:]
        forEachPath { path in results[path] = cases.map(run) }
        guard let reference = results[0] else { return XCTFail("no im2col result") }
        for (path, values) in results where path > 0 {
            for (i, c) in cases.enumerated() {
                let name = "path \(path), case \(i) (\(c.inChannels)→\(c.outChannels), \(c.height)×\(c.width), batch \(c.batch))"
                assertClose(values[i].out, reference[i].out, rtol: 1e-5, "\(name) forward")
                assertClose(values[i].dx, reference[i].dx, rtol: 1e-5, "\(name) input gradient")
            }
        }
        if let avx2 = results[1], let avx512 = results[2] {
            for i in cases.indices {
                XCTAssertEqual(avx2[i].out.scalars, avx512[i].out.scalars, "case \(i): AVX2 and AVX-512 forward differ")
                XCTAssertEqual(avx2[i].dx.scalars, avx512[i].dx.scalars, "case \(i): AVX2 and AVX-512 input gradient differ")
            }
        }
        if DirectConv3x3.path == 0 { print("DirectConv3x3Tests: this CPU has no AVX2 + FMA; only the im2col route ran") }
    }

    /// The route setting: by default small images (below `minPixels`) take im2col; `.direct` and `.im2col`
    /// force one route, and conv2d then gives the bits of that route's own computation.
    func testRouteSelectsTheKernel() {
        guard DirectConv3x3.isAvailable else { return print("DirectConv3x3Tests: no AVX2 + FMA; no route to select") }
        func route(_ channels: Int, _ size: Int, batch: Int = 2) -> Tensor.ConvolutionRoute {
            Tensor.convolutionRoute(batch: batch, channels: channels, height: size, width: size, outChannels: channels)
        }
        XCTAssertEqual(route(96, 8), .im2col)
        XCTAssertEqual(Tensor.withConvolutionRoute(.direct) { route(96, 8) }, .direct)
        XCTAssertEqual(Tensor.withConvolutionRoute(.direct) { route(320, 64) }, .direct)
        XCTAssertEqual(Tensor.withConvolutionRoute(.im2col) { route(320, 64) }, .im2col)
        var rng = TestRNG(seed: 11)
        let x = rng.tensor([1, 24, 8, 8])
        let w = rng.tensor([16, 24, 3, 3], -0.5, 0.5)
        // With a bias the routes round differently (the kernel starts its sums at the bias, the product
        // adds it at the end), so equal bits name the route that ran.
        let b = rng.tensor([16])
        let viaDirect = Tensor.withConvolutionRoute(.direct) { Tensor.conv2d(x, weight: w, bias: b, padding: 1) }
        let viaIm2col = Tensor.withConvolutionRoute(.im2col) { Tensor.conv2d(x, weight: w, bias: b, padding: 1) }
        XCTAssertNotEqual(viaDirect.scalars, viaIm2col.scalars, "the two routes gave the same bits: the test cannot tell them apart")
        let kernel = Tensor(uninitialized: [1, 16, 8, 8])
        let g = Conv2DGeometry(
            channels: 24, height: 8, width: 8, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1)
        DirectConv3x3.forward(x: x.pointer, batch: 1, weight: w.pointer, outChannels: 16, bias: b.pointer, g, out: kernel.pointer)
        XCTAssertEqual(viaDirect.scalars, kernel.scalars, "conv2d under .direct is not the kernel's result")
        XCTAssertEqual(
            Tensor.conv2d(x, weight: w, bias: b, padding: 1).scalars, viaIm2col.scalars, "an 8×8 image left im2col by default")
        assertClose(viaDirect, viaIm2col, rtol: 1e-5, "the two routes")
    }

    /// torch.nn.functional.conv2d fixtures (every geometry; the 3×3 stride-1 padding-1 ones take the
    /// direct kernel) on each path: max abs error ≤ 1e-5 · max |reference|.
    func testTorchFixturesOnEachPath() throws {
        try forEachPath { path in try ConvolutionTests.assertMatchesTorchFixtures(label: ", path \(path)") }
    }

    /// Central differences through conv2d on each path (3×3, stride 1, padding 1): the recorded
    /// backward's input gradient is the direct kernel's adjoint.
    func testGradientsOnEachPath() {
        forEachPath { path in
            var rng = TestRNG(seed: 5)
            let x = rng.tensor([2, 3, 6, 5])
            let w = rng.tensor([9, 3, 3, 3], -0.5, 0.5)
            let b = rng.tensor([9])
            checkGradients("conv2d 3×3 path \(path)", inputs: [x, w, b], eps: 1e-2, tolerance: 2e-3, maxChecksPerInput: 96) { t in
                Tensor.conv2d(t[0], weight: t[1], bias: t[2], padding: 1)
            }
        }
    }
}
