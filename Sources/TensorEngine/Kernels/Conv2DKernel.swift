import Foundation

// GEMM drivers of 2-D convolution (NCHW, groups = 1): forward, input gradient, weight gradient.
// Matches torch.nn.functional.conv2d / torch.nn.grad.conv2d_input / conv2d_weight.
//
// Per image, output rows are processed in bands: the band's columns are unfolded (im2col) into a
// buffer of at most `maxColumnElements` floats and one SGEMM writes the band of the output
// (ldc = Hout*Wout), so memory stays bounded (64×64×320 3×3 would need 47 MB of columns per image
// unbanded). 1×1 stride-1 unpadded convolutions skip im2col: the input planes already are the columns.
// 3×3 stride-1 padding-1 convolutions (forward and input gradient) go to `WinogradConv3x3` or
// `DirectConv3x3` where `route` sends them; their weight gradient stays here. Where a band's column
// panels are runs of image rows, the forward never writes the columns: the fp32 product gathers them as
// it packs B (`SGEMMKernel.convolve`), the bf16 one packs them from the image
// (`BF16PackedMatrix(columnsOf:)`).

enum Conv2DKernel {
    private final class RouteSetting: @unchecked Sendable {
        // Written only by `withRoute` on the thread that then runs the convolutions. SEPME_CONV_ROUTE=direct,
        // im2col or winograd in the environment sets it for the process (whole-model comparisons).
        var route: Tensor.ConvolutionRoute =
            switch ProcessInfo.processInfo.environment["SEPME_CONV_ROUTE"]?.lowercased() {
            case "direct": .direct
            case "im2col": .im2col
            case "winograd": .winograd
            default: .automatic
            }
    }
    private static let routeSetting = RouteSetting()

    /// Where 3×3 stride-1 padding-1 convolutions go now (`Tensor.ConvolutionRoute`).
    static var route: Tensor.ConvolutionRoute { routeSetting.route }

    /// Runs `body` with 3×3 stride-1 padding-1 convolutions sent along `route` (`bench conv` times
    /// the routes on the same shapes).
    static func withRoute<T>(_ route: Tensor.ConvolutionRoute, _ body: () throws -> T) rethrows -> T {
        let previous = routeSetting.route
        routeSetting.route = route
        defer { routeSetting.route = previous }
        return try body()
    }

    /// Upper bound on the column buffer (floats): 4 Mi floats = 16 MiB.
    static let maxColumnElements = 1 << 22

    /// Output rows per band so that the column buffer stays under `budget` floats (at least one row).
    static func bandRows(_ g: Conv2DGeometry, budget: Int) -> Int {
        Swift.max(1, Swift.min(g.outH, budget / Swift.max(1, g.patchSize * g.outW)))
    }

    /// Largest per-image GEMM work (multiply-adds) for which images run in parallel on
    /// single-threaded BLAS; bigger images keep one image at a time with BLAS threading each GEMM
    /// (SD1 shapes: 32×32×640 3×3 is 3.8 G multiply-adds per image).
    static let imageParallelLimit = 1 << 27

    /// How a batch is split: `workers` groups of images (image n in group n % workers).
    static func workerCount(batch: Int, perImage: Int) -> Int {
        guard batch > 1, perImage <= imageParallelLimit, BLASThreading.canRunItemsInParallel else { return 1 }
        return Swift.min(batch, Parallel.threadCount)
    }

    /// The weight operand of a forward.
    enum Weight {
        /// [Cout, Cin, kh, kw] in fp32.
        case fp32(UnsafePointer<Float>)
        /// Packed for `BF16GEMM` as the left operand of W · columns.
        case bf16(BF16PackedMatrix)
        /// Transformed for the Winograd route, bf16 at some of its points (3×3, stride 1, padding 1).
        case bf16Winograd(WinogradBF16Weight)
    }

    /// The weight operand of an image's im2col products.
    private enum ProductWeight {
        case fp32(UnsafePointer<Float>)
        case bf16(BF16PackedMatrix)
    }

    /// out = W ⋆ x + bias. With a bf16 weight each band is a BF16 product (images one at a time, the
    /// product threaded); with the Winograd route's transformed bf16 weight, that route.
    // x: [N, Cin, H, W], weight: [Cout, Cin, kh, kw], bias: [Cout]? -> out: [N, Cout, Hout, Wout]
    static func forward(
        x: UnsafePointer<Float>, batch: Int, weight: Weight, outChannels: Int,
        bias: UnsafePointer<Float>?, _ g: Conv2DGeometry, out: UnsafeMutablePointer<Float>,
        columnBudget: Int = maxColumnElements
    ) {
        let productWeight: ProductWeight
        switch weight {
        case .bf16Winograd(let transformed):
            WinogradConv3x3.forward(x: x, batch: batch, bf16Weight: transformed, outChannels: outChannels, bias: bias, g, out: out)
            return
        case .fp32(let weight):
            if WinogradConv3x3.applies(g, batch: batch, outChannels: outChannels) {
                WinogradConv3x3.forward(x: x, batch: batch, weight: weight, outChannels: outChannels, bias: bias, g, out: out)
                return
            }
            if DirectConv3x3.applies(g) {
                DirectConv3x3.forward(x: x, batch: batch, weight: weight, outChannels: outChannels, bias: bias, g, out: out)
                return
            }
            productWeight = .fp32(weight)
        case .bf16(let packed): productWeight = .bf16(packed)
        }
        let plane = g.outH * g.outW
        let workers: Int
        if case .fp32 = productWeight {
            workers = workerCount(batch: batch, perImage: outChannels * g.patchSize * plane)
        } else {
            workers = 1
        }
        let body = { (w: Int) in
            forwardImages(
                x: x, images: Swift.stride(from: w, to: batch, by: workers), weight: productWeight,
                outChannels: outChannels, bias: bias, g, out: out, columnBudget: columnBudget)
        }
        if workers > 1 { BLASThreading.forEachItem(workers, body) } else { body(0) }
    }

    private static func forwardImages(
        x: UnsafePointer<Float>, images: StrideTo<Int>, weight productWeight: ProductWeight,
        outChannels: Int, bias: UnsafePointer<Float>?, _ g: Conv2DGeometry,
        out: UnsafeMutablePointer<Float>, columnBudget: Int
    ) {
        let plane = g.outH * g.outW
        let inImage = g.channels * g.height * g.width
        let k = g.patchSize
        let band = bandRows(g, budget: columnBudget)
        let needsColumns: Bool
        switch productWeight {
        case .fp32: needsColumns = !g.isPointwise && !implicitColumns(g)
        case .bf16: needsColumns = !g.isPointwise && !implicitBF16Columns(g)
        }
        let cols = needsColumns ? LargeBlockCache.allocateFloats(k * band * g.outW) : nil
        defer { cols.map { LargeBlockCache.deallocateFloats($0, count: k * band * g.outW) } }
        for n in images {
            let xn = x + n * inImage
            let on = out + n * outChannels * plane
            if let bias {
                for co in 0..<outChannels { (on + co * plane).update(repeating: bias[co], count: plane) }
            }
            let beta: Float = bias == nil ? 0 : 1
            let weight: UnsafePointer<Float>
            switch productWeight {
            case .bf16(let packed):
                bf16Band(xn, cols: cols, weight: packed, g, band: band, accumulate: bias != nil, out: on)
                continue
            case .fp32(let w): weight = w
            }
            if implicitColumns(g) {
                SGEMMKernel.convolve(weight: weight, outChannels: outChannels, image: xn, g, beta: beta, out: on)
                continue
            }
            guard let cols else {
                BLAS.sgemm(
                    transA: false, transB: false, m: outChannels, n: plane, k: g.channels,
                    a: weight, lda: g.channels, b: xn, ldb: plane, beta: beta, c: on, ldc: plane)
                continue
            }
            var r0 = 0
            while r0 < g.outH {
                let r1 = Swift.min(g.outH, r0 + band)
                let nc = (r1 - r0) * g.outW
                Im2Col.unfold(xn, g, rowStart: r0, rowEnd: r1, into: cols)
                BLAS.sgemm(
                    transA: false, transB: false, m: outChannels, n: nc, k: k, a: weight, lda: k,
                    b: cols, ldb: nc, beta: beta, c: on + r0 * g.outW, ldc: plane)
                r0 = r1
            }
        }
    }

    /// Whether a bf16 forward packs its columns straight from the image (`BF16PackedMatrix(columnsOf:)`):
    /// where each 32-column panel is one run of an image row (stride 1 along rows, output rows a multiple
    /// of 32 wide); elsewhere `Im2Col.unfold` writes them and the packing reads them.
    static func implicitBF16Columns(_ g: Conv2DGeometry) -> Bool {
        !g.isPointwise && g.strideW == 1 && g.outW % BF16PackedMatrix.panelWidth(.right) == 0
    }

    /// Whether the fp32 forward gathers its columns from the image inside the product
    /// (`SGEMMKernel.convolve`) instead of writing them with `Im2Col.unfold`: on sepme's own kernels, at
    /// stride 1 along rows, when every 32-column panel of B lies in one output row or holds whole output
    /// rows of 16 or 8 pixels (so each of its k rows is one run of an image row per output row).
    static func implicitColumns(_ g: Conv2DGeometry) -> Bool {
        !g.isPointwise && SGEMMKernel.path == .avx512 && g.strideW == 1
            && (g.outW % SGEMMKernel.columnPanel == 0 || g.outW == 16 || g.outW == 8)
    }

    /// One image's output as BF16 products, band by band (pointwise: the input planes are the columns).
    // xn: [Cin, H, W] -> on: [Cout, Hout, Wout]
    private static func bf16Band(
        _ xn: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>?, weight: BF16PackedMatrix,
        _ g: Conv2DGeometry, band: Int, accumulate: Bool, out on: UnsafeMutablePointer<Float>
    ) {
        let plane = g.outH * g.outW
        if g.isPointwise {
            let right = BF16PackedMatrix(right: xn, depth: g.channels, columns: plane, depthStride: plane, columnStride: 1)
            BF16GEMM.multiply(weight, right, into: on, ldc: plane, accumulate: accumulate)
            return
        }
        var r0 = 0
        while r0 < g.outH {
            let r1 = Swift.min(g.outH, r0 + band)
            let nc = (r1 - r0) * g.outW
            let right: BF16PackedMatrix
            if let cols {
                Im2Col.unfold(xn, g, rowStart: r0, rowEnd: r1, into: cols)
                right = BF16PackedMatrix(right: cols, depth: g.patchSize, columns: nc, depthStride: nc, columnStride: 1)
            } else {
                right = BF16PackedMatrix(columnsOf: xn, g, rowBegin: r0, rowEnd: r1)
            }
            BF16GEMM.multiply(weight, right, into: on + r0 * g.outW, ldc: plane, accumulate: accumulate)
            r0 = r1
        }
    }

    /// Gradients of the convolution for the inputs that need them: dx = col2im(Wᵀ dy) and
    /// dW = Σ_n dy_n colsₙᵀ. `dx` and `dWeight` must be zero-filled by the caller. With parallel
    /// image groups, each group accumulates its own dW, summed at the end.
    // dy: [N, Cout, Hout, Wout] -> dx: [N, Cin, H, W], dWeight: [Cout, Cin, kh, kw]
    static func backward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int,
        weight: UnsafePointer<Float>, outChannels: Int, _ g: Conv2DGeometry,
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
        columnBudget: Int = maxColumnElements
    ) {
        var dx = dx
        if let gradient = dx {
            if WinogradConv3x3.applies(g, batch: batch, outChannels: outChannels) {
                WinogradConv3x3.inputGradient(
                    dy: dy, batch: batch, weight: weight, outChannels: outChannels, g, dx: gradient)
                dx = nil
            } else if DirectConv3x3.applies(g) {
                DirectConv3x3.inputGradient(dy: dy, batch: batch, weight: weight, outChannels: outChannels, g, dx: gradient)
                dx = nil
            }
            if dx == nil && dWeight == nil { return }
        }
        let plane = g.outH * g.outW
        let wCount = outChannels * g.patchSize
        let workers = workerCount(batch: batch, perImage: wCount * plane)
        guard workers > 1 else {
            backwardImages(
                dy: dy, x: x, images: Swift.stride(from: 0, to: batch, by: 1), weight: weight, outChannels: outChannels,
                g, dx: dx, dWeight: dWeight, columnBudget: columnBudget)
            return
        }
        let partial = dWeight.map { _ in LargeBlockCache.allocateFloats(workers * wCount) }
        partial?.initialize(repeating: 0, count: workers * wCount)
        defer { partial.map { LargeBlockCache.deallocateFloats($0, count: workers * wCount) } }
        BLASThreading.forEachItem(workers) { w in
            backwardImages(
                dy: dy, x: x, images: Swift.stride(from: w, to: batch, by: workers), weight: weight,
                outChannels: outChannels, g, dx: dx, dWeight: partial.map { $0 + w * wCount }, columnBudget: columnBudget)
        }
        if let dWeight, let partial {
            for w in 0..<workers { BLAS.saxpy(wCount, alpha: 1, x: partial + w * wCount, y: dWeight) }
        }
    }

    private static func backwardImages(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, images: StrideTo<Int>,
        weight: UnsafePointer<Float>, outChannels: Int, _ g: Conv2DGeometry,
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
        columnBudget: Int
    ) {
        let plane = g.outH * g.outW
        let inImage = g.channels * g.height * g.width
        let k = g.patchSize
        let band = bandRows(g, budget: columnBudget)
        let cols = g.isPointwise ? nil : LargeBlockCache.allocateFloats(k * band * g.outW)
        defer { cols.map { LargeBlockCache.deallocateFloats($0, count: k * band * g.outW) } }
        for n in images {
            let xn = x + n * inImage
            let dyn = dy + n * outChannels * plane
            guard let cols else {
                if let dWeight {
                    BLAS.sgemm(
                        transA: false, transB: true, m: outChannels, n: g.channels, k: plane,
                        a: dyn, lda: plane, b: xn, ldb: plane, beta: 1, c: dWeight, ldc: g.channels)
                }
                if let dx {
                    BLAS.sgemm(
                        transA: true, transB: false, m: g.channels, n: plane, k: outChannels,
                        a: weight, lda: g.channels, b: dyn, ldb: plane, c: dx + n * inImage, ldc: plane)
                }
                continue
            }
            var r0 = 0
            while r0 < g.outH {
                let r1 = Swift.min(g.outH, r0 + band)
                let nc = (r1 - r0) * g.outW
                if let dWeight {
                    Im2Col.unfold(xn, g, rowStart: r0, rowEnd: r1, into: cols)
                    BLAS.sgemm(
                        transA: false, transB: true, m: outChannels, n: k, k: nc, a: dyn + r0 * g.outW,
                        lda: plane, b: cols, ldb: nc, beta: 1, c: dWeight, ldc: k)
                }
                if let dx {
                    // The column buffer is reused for the column gradient Wᵀ dy of this band.
                    BLAS.sgemm(
                        transA: true, transB: false, m: k, n: nc, k: outChannels, a: weight, lda: k,
                        b: dyn + r0 * g.outW, ldb: plane, c: cols, ldc: nc)
                    Im2Col.fold(cols, g, rowStart: r0, rowEnd: r1, into: dx + n * inImage)
                }
                r0 = r1
            }
        }
    }

    /// db[c] = Σ_{n, h, w} dy[n, c, h, w] (accumulated in Double).
    static func biasGradient(
        dy: UnsafePointer<Float>, batch: Int, outChannels: Int, plane: Int,
        into db: UnsafeMutablePointer<Float>
    ) {
        Parallel.forEachChunk(outChannels, minChunk: Swift.max(1, 16_384 / Swift.max(plane * batch, 1))) { chans in
            for c in chans {
                var acc = 0.0
                for n in 0..<batch {
                    let p = dy + (n * outChannels + c) * plane
                    var s: Float = 0
                    for i in 0..<plane { s += p[i] }
                    acc += Double(s)
                }
                db[c] = Float(acc)
            }
        }
    }
}
