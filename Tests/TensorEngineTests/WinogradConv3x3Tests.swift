import CMatrixKernels
@testable import TensorEngine
import TestSupport
import XCTest

/// Winograd F(4×4, 3×3) convolution (`WinogradConv3x3`, CMatrixKernels/winograd.c): forward and input
/// gradient against a double-precision direct sum, on every transform path this CPU has (baseline x86-64,
/// AVX2, AVX-512F), which must agree bit for bit; and the route that sends SD-sized convolutions to it.
final class WinogradConv3x3Tests: XCTestCase {
    private struct Case {
        let batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int, bias: Bool
    }

    /// SD-like channel counts on images whose sides are and are not multiples of the 4-pixel tile,
    /// images narrower than one tile, batches that split into bands of tile rows, and a row of more tiles
    /// than one 16-lane vector of the AVX-512F path's tile loops, with a partial last vector.
    private let cases = [
        Case(batch: 2, inChannels: 64, outChannels: 48, height: 32, width: 32, bias: true),
        Case(batch: 1, inChannels: 13, outChannels: 7, height: 9, width: 11, bias: true),
        Case(batch: 3, inChannels: 16, outChannels: 24, height: 5, width: 4, bias: false),
        Case(batch: 1, inChannels: 40, outChannels: 33, height: 22, width: 38, bias: true),
        Case(batch: 2, inChannels: 5, outChannels: 3, height: 2, width: 3, bias: false),
        Case(batch: 1, inChannels: 6, outChannels: 5, height: 9, width: 70, bias: true)
    ]

    /// out[n, o, y, x] = bias[o] + Σ_{c, i, j} w[o, c, i, j] · x[n, c, y + i − 1, x + j − 1] in Double.
    private func directReference(
        _ x: Tensor, _ w: Tensor, bias: Tensor?, adjoint: Bool
    ) -> [Double] {
        let (batch, inC, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let outC = adjoint ? w.shape[1] : w.shape[0]
        let xs = x.scalars
        let ws = w.scalars
        let wIn = w.shape[1]
        var out = [Double](repeating: 0, count: batch * outC * h * wd)
        for n in 0..<batch {
            for o in 0..<outC {
                for y in 0..<h {
                    for xx in 0..<wd {
                        var s = Double(bias?.scalars[o] ?? 0)
                        for c in 0..<inC {
                            for i in 0..<3 {
                                let yy = y + i - 1
                                guard yy >= 0 && yy < h else { continue }
                                for j in 0..<3 {
                                    let xj = xx + j - 1
                                    guard xj >= 0 && xj < wd else { continue }
                                    // The adjoint operator: w'[o, c, i, j] = w[c, o, 2 − i, 2 − j].
                                    let weight =
                                        adjoint ? ws[((c * wIn + o) * 3 + 2 - i) * 3 + 2 - j] : ws[((o * wIn + c) * 3 + i) * 3 + j]
                                    s += Double(weight) * Double(xs[((n * inC + c) * h + yy) * wd + xj])
                                }
                            }
                        }
                        out[((n * outC + o) * h + y) * wd + xx] = s
                    }
                }
            }
        }
        return out
    }

    /// With `groupBudget` 1 every group is one tile row of one image.
    private func run(_ c: Case, groupBudget: Int) -> (out: Tensor, dx: Tensor, refOut: [Double], refDx: [Double]) {
        var rng = TestRNG(seed: UInt64(c.inChannels * 100 + c.height))
        let x = rng.tensor([c.batch, c.inChannels, c.height, c.width])
        let w = rng.tensor([c.outChannels, c.inChannels, 3, 3], -0.5, 0.5)
        let b = c.bias ? rng.tensor([c.outChannels]) : nil
        let dy = rng.tensor([c.batch, c.outChannels, c.height, c.width])
        let g = Conv2DGeometry(
            channels: c.inChannels, height: c.height, width: c.width, kernelH: 3, kernelW: 3,
            strideH: 1, strideW: 1, padH: 1, padW: 1)
        let out = Tensor(uninitialized: [c.batch, c.outChannels, c.height, c.width])
        WinogradConv3x3.forward(
            x: x.pointer, batch: c.batch, weight: w.pointer, outChannels: c.outChannels, bias: b?.pointer, g, out: out.pointer,
            groupBudget: groupBudget)
        let dx = Tensor(uninitialized: x.shape)
        WinogradConv3x3.inputGradient(
            dy: dy.pointer, batch: c.batch, weight: w.pointer, outChannels: c.outChannels, g, dx: dx.pointer,
            groupBudget: groupBudget)
        return (out, dx, directReference(x, w, bias: b, adjoint: false), directReference(dy, w, bias: nil, adjoint: true))
    }

    /// Largest |a − b| over the largest |b|.
    private func relativeError(_ a: Tensor, _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        let err = zip(a.scalars, b).map { abs(Double($0) - $1) }.max() ?? 0
        return scale > 0 ? err / scale : err
    }

    /// Each case on each path against the Double direct sum: max abs error ≤ 2e-5 · max |reference| (fp32
    /// rounding scaled by the transforms' coefficients); the paths, and groups of whole images against
    /// groups of single tile rows, identical to the bit.
    func testMatchesDoubleDirectSumOnEveryPath() {
        let previous = sepme_winograd_set_path(2)
        defer { sepme_winograd_set_path(previous) }
        let best = Int(sepme_winograd_path())
        var results: [[(out: Tensor, dx: Tensor)]] = []
        for path in 0...best {
            sepme_winograd_set_path(Int32(path))
            var values: [(out: Tensor, dx: Tensor)] = []
            for (i, c) in cases.enumerated() {
                let r = run(c, groupBudget: WinogradConv3x3.groupFloats)
                let rows = run(c, groupBudget: 1)
                XCTAssertEqual(rows.out.scalars, r.out.scalars, "case \(i): single tile-row groups, forward bits")
                XCTAssertEqual(rows.dx.scalars, r.dx.scalars, "case \(i): single tile-row groups, gradient bits")
                let name = "path \(path), case \(i) (\(c.inChannels)→\(c.outChannels), \(c.height)×\(c.width), batch \(c.batch))"
                XCTAssertLessThanOrEqual(relativeError(r.out, r.refOut), 2e-5, "\(name) forward")
                XCTAssertLessThanOrEqual(relativeError(r.dx, r.refDx), 2e-5, "\(name) input gradient")
                values.append((r.out, r.dx))
            }
            results.append(values)
        }
        for path in results.indices.dropFirst() {
            for i in cases.indices {
                XCTAssertEqual(results[path][i].out.scalars, results[0][i].out.scalars, "case \(i): path \(path) forward bits")
                XCTAssertEqual(results[path][i].dx.scalars, results[0][i].dx.scalars, "case \(i): path \(path) gradient bits")
            }
        }
    }

    /// The bf16 forward (`WinogradBF16Weight`: fifteen of the 36 point products in bf16, the rest fp32) on
    /// each case against the Double direct sum: max abs error ≤ 1.5e-2 · max |reference| (bf16's rounding,
    /// 2⁻⁹ per operand, times the transforms' factors at the rounded points, up to 2.5 × 14), and not fp32's
    /// bits; whole-image groups and single tile-row groups, and the widening AVX2 product path, give the same
    /// bits.
    func testBF16PointsAgainstDoubleDirectSum() {
        // Point (i, j) is i · 6 + j, each 1-D index in the transforms' order 0, 1, −1, 2, −2, ∞.
        XCTAssertEqual(
            (0..<Int(SEPME_WINOGRAD_POINTS)).filter { !WinogradBF16Weight.isFP32Point($0) },
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 18, 24, 30], "the bf16 points are {0, 1, −1}² and 0 with 2, −2 or ∞")
        for (i, c) in cases.enumerated() {
            var rng = TestRNG(seed: UInt64(c.inChannels * 100 + c.height))
            let x = rng.tensor([c.batch, c.inChannels, c.height, c.width])
            let w = rng.tensor([c.outChannels, c.inChannels, 3, 3], -0.5, 0.5)
            let b = c.bias ? rng.tensor([c.outChannels]) : nil
            let g = Conv2DGeometry(
                channels: c.inChannels, height: c.height, width: c.width, kernelH: 3, kernelW: 3,
                strideH: 1, strideW: 1, padH: 1, padW: 1)
            let u = WinogradBF16Weight(w.pointer, outChannels: c.outChannels, inChannels: c.inChannels)
            func forward(groupBudget: Int = WinogradConv3x3.groupFloats) -> Tensor {
                let out = Tensor(uninitialized: [c.batch, c.outChannels, c.height, c.width])
                WinogradConv3x3.forward(
                    x: x.pointer, batch: c.batch, bf16Weight: u, outChannels: c.outChannels, bias: b?.pointer, g,
                    out: out.pointer, groupBudget: groupBudget)
                return out
            }
            let out = forward()
            let fp32 = Tensor(uninitialized: out.shape)
            WinogradConv3x3.forward(
                x: x.pointer, batch: c.batch, weight: w.pointer, outChannels: c.outChannels, bias: b?.pointer, g,
                out: fp32.pointer)
            let name = "case \(i) (\(c.inChannels)→\(c.outChannels), \(c.height)×\(c.width), batch \(c.batch))"
            let error = relativeError(out, directReference(x, w, bias: b, adjoint: false))
            XCTAssertLessThanOrEqual(error, 1.5e-2, name)
            XCTAssertGreaterThan(error, 2e-5, "\(name): within fp32's bound, so no point was rounded")
            XCTAssertNotEqual(out.scalars, fp32.scalars, name)
            XCTAssertEqual(forward(groupBudget: 1).scalars, out.scalars, "\(name): single tile-row groups")
            if BF16GEMM.bestPath != .amx {  // the tile unit sums in its own order
                XCTAssertEqual(BF16GEMM.withPathLimit(.avx2) { forward() }.scalars, out.scalars, "\(name): AVX2 products")
            }
        }
    }

    /// The automatic route sends SD's resnet convolutions here where the batch has enough tiles, and keeps
    /// off thin convolutions (the toy model's), few tiles, and weights whose transform would be too large;
    /// `.winograd` forces it, and conv2d (forward and input gradient) then gives this operator's bits.
    func testRouteSendsConvolutionsHere() {
        func route(_ channels: Int, _ size: Int, batch: Int = 2) -> Tensor.ConvolutionRoute {
            Tensor.convolutionRoute(batch: batch, channels: channels, height: size, width: size, outChannels: channels)
        }
        XCTAssertEqual(route(320, 64, batch: 1), .winograd)
        XCTAssertEqual(route(640, 32), .winograd)
        XCTAssertEqual(route(1280, 16), .winograd)
        XCTAssertNotEqual(route(1280, 16, batch: 1), .winograd)
        XCTAssertNotEqual(route(1280, 8), .winograd)
        XCTAssertNotEqual(route(96, 32), .winograd)
        XCTAssertNotEqual(
            Tensor.convolutionRoute(batch: 2, channels: 2560, height: 16, width: 16, outChannels: 1280), .winograd)
        XCTAssertEqual(Tensor.withConvolutionRoute(.winograd) { route(96, 8) }, .winograd)
        XCTAssertNotEqual(Tensor.withConvolutionRoute(.im2col) { route(320, 64) }, .winograd)

        var rng = TestRNG(seed: 5)
        let x = rng.tensor([2, 12, 10, 10])
        let w = rng.tensor([8, 12, 3, 3], -0.5, 0.5)
        let b = rng.tensor([8])
        let dy = rng.tensor([2, 8, 10, 10])
        x.requiresGrad = true
        let y = Tensor.withConvolutionRoute(.winograd) { Tensor.conv2d(x, weight: w, bias: b, padding: 1) }
        Tensor.withConvolutionRoute(.winograd) { y.backward(gradient: dy) }
        let g = Conv2DGeometry(
            channels: 12, height: 10, width: 10, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1)
        let out = Tensor(uninitialized: [2, 8, 10, 10])
        WinogradConv3x3.forward(x: x.pointer, batch: 2, weight: w.pointer, outChannels: 8, bias: b.pointer, g, out: out.pointer)
        let dx = Tensor(uninitialized: x.shape)
        WinogradConv3x3.inputGradient(dy: dy.pointer, batch: 2, weight: w.pointer, outChannels: 8, g, dx: dx.pointer)
        XCTAssertEqual(y.scalars, out.scalars, "conv2d under .winograd is not this operator's forward")
        XCTAssertEqual(x.grad?.scalars, dx.scalars, "conv2d's input gradient under .winograd is not this operator's")
        let viaIm2col = Tensor.withConvolutionRoute(.im2col) { Tensor.conv2d(x, weight: w, bias: b, padding: 1) }
        XCTAssertNotEqual(y.scalars, viaIm2col.scalars, "the routes gave the same bits: the test cannot tell them apart")
        assertClose(y, viaIm2col, rtol: 1e-5, "winograd against im2col")
    }

    /// torch.nn.functional.conv2d fixtures with every 3×3 stride-1 padding-1 case on this route: max abs
    /// error ≤ 1e-5 · max |reference|.
    func testTorchFixtures() throws {
        try Tensor.withConvolutionRoute(.winograd) { try ConvolutionTests.assertMatchesTorchFixtures(label: ", winograd") }
    }
}
