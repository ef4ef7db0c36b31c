import XCTest
@testable import TensorEngine

/// `SGEMMKernel.convolve` gathers the im2col columns from the image while packing B
/// (`sepme_sgemm_columns`). It packs the same values an explicit `Im2Col.unfold` writes and sums them in
/// the same order, so its output must equal `BLAS.sgemm` on the unfolded columns bit for bit: on panels
/// that lie in one output row (runs of an image row, masked at the edges) and on panels gathered value
/// by value (rows that wrap, stride 2, a partial last panel).
final class ImplicitColumnsTests: XCTestCase {
    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(g.nextUnitDouble() * 2 - 1) }
    }

    func testMatchesExplicitIm2ColBitForBit() throws {
        guard SGEMMKernel.bestPath == .avx512 else { throw XCTSkip("sepme's kernels need AVX-512F") }
        let geometries = [
            // Runs of image rows: widths that are multiples of 32, padding 1 and 2, a 5x5 and a 1x3 kernel.
            Conv2DGeometry(channels: 3, height: 9, width: 64, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1),
            Conv2DGeometry(channels: 5, height: 6, width: 32, kernelH: 5, kernelW: 5, strideH: 1, strideW: 1, padH: 2, padW: 2),
            Conv2DGeometry(channels: 4, height: 7, width: 34, kernelH: 1, kernelW: 3, strideH: 2, strideW: 1, padH: 0, padW: 0),
            // Panels of whole output rows of 16 and 8 pixels (an odd row count leaves a partial last panel).
            Conv2DGeometry(channels: 3, height: 16, width: 16, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1),
            Conv2DGeometry(channels: 2, height: 9, width: 18, kernelH: 3, kernelW: 3, strideH: 2, strideW: 1, padH: 0, padW: 0),
            Conv2DGeometry(channels: 5, height: 8, width: 8, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1),
            Conv2DGeometry(channels: 2, height: 9, width: 12, kernelH: 5, kernelW: 5, strideH: 1, strideW: 1, padH: 0, padW: 0),
            // Gathered value by value: rows that wrap inside a panel, stride 2, a partial last panel.
            Conv2DGeometry(channels: 3, height: 11, width: 20, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1),
            Conv2DGeometry(channels: 2, height: 13, width: 17, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1),
            Conv2DGeometry(channels: 300, height: 4, width: 32, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1)
        ]
        for (index, g) in geometries.enumerated() {
            let outChannels = 13
            let (k, n) = (g.patchSize, g.outH * g.outW)
            let image = random(g.channels * g.height * g.width, seed: UInt64(index))
            let weight = random(outChannels * k, seed: UInt64(index) + 100)
            let start = random(outChannels * n, seed: UInt64(index) + 200)
            var columns = [Float](repeating: .nan, count: k * n)
            Im2Col.unfold(image, g, rowStart: 0, rowEnd: g.outH, into: &columns)
            var gathered = [Float](repeating: .nan, count: k * 7)
            Im2Col.gather(image, g, firstColumn: n - 7, columns: 7, into: &gathered)
            for row in 0..<k {
                XCTAssertEqual(Array(gathered[(row * 7)..<(row * 7 + 7)]), Array(columns[(row * n + n - 7)..<(row * n + n)]))
            }
            for beta: Float in [0, 1] {
                var explicit = start
                var implicit = start
                SGEMMKernel.withPathLimit(.avx512) {
                    BLAS.sgemm(
                        transA: false, transB: false, m: outChannels, n: n, k: k, a: weight, lda: k, b: columns, ldb: n,
                        beta: beta, c: &explicit, ldc: n)
                    image.withUnsafeBufferPointer { x in
                        weight.withUnsafeBufferPointer { w in
                            SGEMMKernel.convolve(
                                weight: w.baseAddress!, outChannels: outChannels, image: x.baseAddress!, g, beta: beta,
                                out: &implicit)
                        }
                    }
                }
                let first = explicit.indices.first { explicit[$0].bitPattern != implicit[$0].bitPattern }
                XCTAssertNil(first, "geometry \(index), beta \(beta): element \(first ?? -1) differs")
            }
        }
    }

    /// The forward convolution takes the implicit path where it applies and still matches the explicit one.
    func testConvolutionForwardUsesImplicitColumnsAndMatchesTheBandedPath() throws {
        guard SGEMMKernel.bestPath == .avx512 else { throw XCTSkip("sepme's kernels need AVX-512F") }
        let g = Conv2DGeometry(channels: 6, height: 12, width: 32, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1)
        XCTAssertTrue(SGEMMKernel.withPathLimit(.avx512) { Conv2DKernel.implicitColumns(g) })
        XCTAssertFalse(DirectConv3x3.applies(g))
        let x = random(2 * g.channels * g.height * g.width, seed: 7)
        let w = random(8 * g.patchSize, seed: 8)
        let bias = random(8, seed: 9)
        let plane = g.outH * g.outW
        var implicit = [Float](repeating: 0, count: 2 * 8 * plane)
        var banded = implicit
        SGEMMKernel.withPathLimit(.avx512) {
            w.withUnsafeBufferPointer { w in
                Conv2DKernel.forward(x: x, batch: 2, weight: .fp32(w.baseAddress!), outChannels: 8, bias: bias, g, out: &implicit)
            }
        }
        // The explicit banded im2col path, as the OpenBLAS path runs it, on the same kernels.
        for n in 0..<2 {
            var columns = [Float](repeating: 0, count: g.patchSize * plane)
            Im2Col.unfold(Array(x[(n * g.channels * g.height * g.width)...]), g, rowStart: 0, rowEnd: g.outH, into: &columns)
            var out = (0..<8).flatMap { [Float](repeating: bias[$0], count: plane) }
            SGEMMKernel.withPathLimit(.avx512) {
                BLAS.sgemm(
                    transA: false, transB: false, m: 8, n: plane, k: g.patchSize, a: w, lda: g.patchSize, b: columns, ldb: plane,
                    beta: 1, c: &out, ldc: plane)
            }
            banded.replaceSubrange((n * 8 * plane)..<((n + 1) * 8 * plane), with: out)
        }
        XCTAssertEqual(implicit.map(\.bitPattern), banded.map(\.bitPattern))
    }
    /// `BF16PackedMatrix(columnsOf:)` packs the words the explicit columns give (`Im2Col.unfold`, then
    /// `init(right:)`): on one-row runs (the vector loops; padding at both edges, a 5×5 kernel, a band that
    /// starts below row 0, odd k) and value by value (rows that wrap, stride 2, a partial last panel),
    /// on the AVX-512 BF16 (where the CPU has it), AVX2 and scalar paths.
    func testBF16ColumnsMatchExplicitPackingWordForWord() {
        let cases: [(Conv2DGeometry, rowBegin: Int, rowEnd: Int)] = [
            (Conv2DGeometry(channels: 3, height: 9, width: 64, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1), 0, 9),
            (Conv2DGeometry(channels: 5, height: 6, width: 32, kernelH: 5, kernelW: 5, strideH: 1, strideW: 1, padH: 2, padW: 2), 2, 5),
            (Conv2DGeometry(channels: 1, height: 7, width: 34, kernelH: 1, kernelW: 3, strideH: 2, strideW: 1, padH: 0, padW: 0), 1, 4),
            (Conv2DGeometry(channels: 3, height: 11, width: 20, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1), 0, 11),
            (Conv2DGeometry(channels: 2, height: 13, width: 17, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1), 3, 7)
        ]
        for (index, c) in cases.enumerated() {
            let g = c.0
            var image = random(g.channels * g.height * g.width, seed: UInt64(index) + 300)
            image[0] = Float(bitPattern: 0x3F80_8000)  // a rounding tie
            let n = (c.rowEnd - c.rowBegin) * g.outW
            var columns = [Float](repeating: .nan, count: g.patchSize * n)
            Im2Col.unfold(image, g, rowStart: c.rowBegin, rowEnd: c.rowEnd, into: &columns)
            for path in [BF16GEMM.Path.avx512BF16, .avx2, .scalar] {
                BF16GEMM.withPathLimit(path) {
                    let explicit = BF16PackedMatrix(right: columns, depth: g.patchSize, columns: n, depthStride: n, columnStride: 1)
                    let implicit = image.withUnsafeBufferPointer {
                        BF16PackedMatrix(columnsOf: $0.baseAddress!, g, rowBegin: c.rowBegin, rowEnd: c.rowEnd)
                    }
                    XCTAssertEqual(implicit.count, explicit.count)
                    let words = (0..<explicit.count).first { explicit.storage[$0] != implicit.storage[$0] }
                    XCTAssertNil(words, "case \(index), \(path): word \(words ?? -1) differs")
                }
            }
        }
    }
}
