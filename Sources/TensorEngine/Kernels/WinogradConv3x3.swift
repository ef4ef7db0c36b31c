import CMatrixKernels

// 3×3 convolutions with stride 1 and padding 1 by Winograd's minimal filtering F(4×4, 3×3) (Lavin &
// Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, eq. 8). Each 4×4 block of output
// pixels comes from the 6×6 input block around it: the weight, the input blocks and the output are
// transformed (CMatrixKernels/winograd.c) and, in between, the convolution is 36 independent products
// M[ξ] = U[ξ] · V[ξ] (out × in channels times in channels × tiles), one per point of the 6×6 tile, on
// `BLAS.sgemm`. That is 36 multiply-adds per 16 output pixels and channel pair where the direct sum takes
// 144; the transforms add work linear in the image and weight sizes, which large images with enough
// tiles to share the weight's transform repay (`applies`).
//
// Rounding: the transforms scale values by up to 8 and 1/24, so an output carries a larger fp32 rounding
// error than the direct sum's (WinogradConv3x3Tests bounds it against a Double direct sum; docs/benchmarks.md
// gives its effect on a whole generation). The input gradient is the same operation on the adjoint weight,
// w'[ci, co, i, j] = w[co, ci, 2 − i, 2 − j]. Inside a bf16 scope the forward runs fifteen of the 36 products
// in bf16 (`WinogradBF16Weight` says which and why).

enum WinogradConv3x3 {
    /// Fewest tiles (over the batch) the automatic route sends here: the 36 products need that many
    /// columns to repay transforming and packing the weight.
    static let minTiles = 32

    /// Fewest channels (the smaller of input and output) the automatic route sends here: thinner
    /// convolutions (a UNet's first and last, the toy model's) keep the direct sum's rounding.
    static let minChannels = 128

    /// Largest channel product (Cout · Cin) the automatic route sends here: the transformed weight is
    /// 36 · Cout · Cin floats, held while the convolution runs.
    static let maxChannelProduct = 1280 * 1280

    /// Transformed columns (tiles) a group holds, in units of the larger channel count: each of a group's
    /// 36 products then reads at most this many floats of V (or writes as many of M); at least one tile row.
    static let groupFloats = 1 << 17

    /// True for the geometry this route computes (3×3, stride 1, padding 1), on the images `route` sends
    /// to it.
    static func applies(_ g: Conv2DGeometry, batch: Int, outChannels: Int) -> Bool {
        guard g.isSamePadded3x3 else { return false }
        switch Conv2DKernel.route {
        case .winograd: return true
        case .direct, .im2col: return false
        case .automatic:
            return batch * sepme_winograd_tiles(g.height) * sepme_winograd_tiles(g.width) >= minTiles
                && Swift.min(g.channels, outChannels) >= minChannels && g.channels * outChannels <= maxChannelProduct
        }
    }

    /// out = W ⋆ x + bias.
    // x: [N, Cin, H, W], weight: [Cout, Cin, 3, 3], bias: [Cout]? -> out: [N, Cout, H, W]
    static func forward(
        x: UnsafePointer<Float>, batch: Int, weight: UnsafePointer<Float>, outChannels: Int,
        bias: UnsafePointer<Float>?, _ g: Conv2DGeometry, out: UnsafeMutablePointer<Float>,
        groupBudget: Int = groupFloats
    ) {
        let count = sepme_winograd_weight_count(outChannels, g.channels)
        let u = transformWeight(weight, cout: outChannels, cin: g.channels, adjoint: false)
        defer { LargeBlockCache.deallocateFloats(u, count: count) }
        run(
            input: x, batch: batch, inChannels: g.channels, outChannels: outChannels, height: g.height,
            width: g.width, products: .fp32(u), bias: bias, out: out, groupBudget: groupBudget)
    }

    /// out = W ⋆ x + bias with the 36 products in bf16 (`BF16GEMM`) except at `u`'s fp32 points: each bf16
    /// point's transformed input is rounded and packed before its product.
    // x: [N, Cin, H, W], u: 36 × [Cout, Cin] -> out: [N, Cout, H, W]
    static func forward(
        x: UnsafePointer<Float>, batch: Int, bf16Weight u: WinogradBF16Weight, outChannels: Int,
        bias: UnsafePointer<Float>?, _ g: Conv2DGeometry, out: UnsafeMutablePointer<Float>,
        groupBudget: Int = groupFloats
    ) {
        run(
            input: x, batch: batch, inChannels: g.channels, outChannels: outChannels, height: g.height,
            width: g.width, products: .bf16(u), bias: bias, out: out, groupBudget: groupBudget)
    }

    /// The transformed weight the 36 products multiply: fp32 ([36, produced, consumed]) or bf16 operands.
    private enum Products {
        case fp32(UnsafePointer<Float>)
        case bf16(WinogradBF16Weight)
    }

    /// dx = conv3x3(dy, w') (overwrites dx), the input gradient of `forward`.
    // dy: [N, Cout, H, W], weight: [Cout, Cin, 3, 3] -> dx: [N, Cin, H, W]
    static func inputGradient(
        dy: UnsafePointer<Float>, batch: Int, weight: UnsafePointer<Float>, outChannels: Int,
        _ g: Conv2DGeometry, dx: UnsafeMutablePointer<Float>, groupBudget: Int = groupFloats
    ) {
        let count = sepme_winograd_weight_count(g.channels, outChannels)
        let u = transformWeight(weight, cout: outChannels, cin: g.channels, adjoint: true)
        defer { LargeBlockCache.deallocateFloats(u, count: count) }
        run(
            input: dy, batch: batch, inChannels: outChannels, outChannels: g.channels, height: g.height,
            width: g.width, products: .fp32(u), bias: nil, out: dx, groupBudget: groupBudget)
    }

    /// U = G g Gᵀ for every channel pair of the operator (its adjoint's for `adjoint`), output channels split
    /// over the workers; the caller deallocates it with `LargeBlockCache`.
    // weight: [cout, cin, 3, 3] -> [36, produced, consumed]
    static func transformWeight(
        _ weight: UnsafePointer<Float>, cout: Int, cin: Int, adjoint: Bool
    ) -> UnsafeMutablePointer<Float> {
        let produced = adjoint ? cin : cout
        let consumed = adjoint ? cout : cin
        let u = LargeBlockCache.allocateFloats(sepme_winograd_weight_count(produced, consumed))
        let chunks = Swift.min(produced, Parallel.threadCount)
        let perChunk = (produced + chunks - 1) / chunks
        Parallel.forEach(chunks) { c in
            let lo = c * perChunk
            let hi = Swift.min(produced, lo + perChunk)
            guard lo < hi else { return }
            let stage = UnsafeMutablePointer<Float>.allocate(capacity: 9 * consumed)
            defer { stage.deallocate() }
            sepme_winograd_weight(u, weight, cout, cin, adjoint ? 1 : 0, lo, hi, stage)
        }
        return u
    }

    /// Tile rows of one image whose columns sit at `column` in a group's V and M.
    private struct Segment {
        let image: Int, rows: Range<Int>, column: Int
    }

    /// Groups of columns, each processed in three steps that split over the workers: the input
    /// transform (by image and channel), the 36 products (by point, each product on its worker's
    /// thread, so every transformed weight is packed once per group), the output transform. A group
    /// holds whole images where they fit in `groupBudget`, else a band of one image's tile rows.
    // input: [N, inChannels, H, W] -> out: [N, outChannels, H, W]
    private static func run(
        input: UnsafePointer<Float>, batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
        products: Products, bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, groupBudget: Int
    ) {
        let tilesY = sepme_winograd_tiles(height)
        let tilesX = sepme_winograd_tiles(width)
        let perImage = tilesY * tilesX
        let budget = Swift.max(tilesX, groupBudget / Swift.max(inChannels, outChannels))
        var groups: [[Segment]] = []
        if perImage <= budget {
            let imagesPerGroup = Swift.min(batch, budget / perImage)
            for first in Swift.stride(from: 0, to: batch, by: imagesPerGroup) {
                groups.append(
                    (first..<Swift.min(batch, first + imagesPerGroup)).map {
                        Segment(image: $0, rows: 0..<tilesY, column: ($0 - first) * perImage)
                    })
            }
        } else {
            let bandRows = budget / tilesX
            for n in 0..<batch {
                for r in Swift.stride(from: 0, to: tilesY, by: bandRows) {
                    groups.append([Segment(image: n, rows: r..<Swift.min(tilesY, r + bandRows), column: 0)])
                }
            }
        }
        let points = Int(SEPME_WINOGRAD_POINTS)
        let maxColumns = groups.map { $0.reduce(0) { $0 + $1.rows.count * tilesX } }.max() ?? 0
        let vCount = points * inChannels * maxColumns
        let mCount = points * outChannels * maxColumns
        let threads = Parallel.threadCount
        let scratchCount = sepme_winograd_scratch_count(width)
        let total = vCount + mCount + threads * scratchCount
        // One block from the calling thread (see `DirectConv3x3.run`).
        let buffers = LargeBlockCache.allocateFloats(total)
        defer { LargeBlockCache.deallocateFloats(buffers, count: total) }
        let v = buffers
        let m = v + vCount
        let scratch = m + mCount
        let plane = height * width
        for group in groups {
            let columns = group.reduce(0) { $0 + $1.rows.count * tilesX }
            forEachChannelRange(segments: group.count, channels: inChannels, workers: threads) { worker, s, c in
                let seg = group[s]
                sepme_winograd_input(
                    v + c.lowerBound * columns + seg.column, columns, inChannels * columns,
                    input + (seg.image * inChannels + c.lowerBound) * plane, c.count, height, width,
                    seg.rows.lowerBound, seg.rows.upperBound, scratch + worker * scratchCount)
            }
            switch products {
            case .fp32(let u):
                let chunks = Swift.min(points, threads)
                let perChunk = { (chunk: Int) in
                    for xi in Swift.stride(from: chunk, to: points, by: chunks) {
                        BLAS.sgemm(
                            transA: false, transB: false, m: outChannels, n: columns, k: inChannels,
                            a: u + xi * outChannels * inChannels, lda: inChannels, b: v + xi * inChannels * columns,
                            ldb: columns, c: m + xi * outChannels * columns, ldc: columns)
                    }
                }
                if chunks > 1 { BLASThreading.forEachItem(chunks, perChunk) } else { perChunk(0) }
            case .bf16(let u):
                bf16Products(u, v: v, columns: columns, m: m)
            }
            forEachChannelRange(segments: group.count, channels: outChannels, workers: threads) { worker, s, c in
                let seg = group[s]
                sepme_winograd_output(
                    out + (seg.image * outChannels + c.lowerBound) * plane, m + c.lowerBound * columns + seg.column,
                    columns, outChannels * columns, c.count, height, width, seg.rows.lowerBound, seg.rows.upperBound,
                    bias.map { $0 + c.lowerBound }, scratch + worker * scratchCount)
            }
        }
    }

    /// M[ξ] = U[ξ] · V[ξ] for the 36 points, V: [36, Cin, columns], M: [36, Cout, columns]. The points are
    /// split over the workers, an fp32 point counting as two bf16 ones; each worker packs a bf16 point's V
    /// into its own buffer and multiplies there, on its own thread.
    private static func bf16Products(
        _ u: WinogradBF16Weight, v: UnsafePointer<Float>, columns: Int, m: UnsafeMutablePointer<Float>
    ) {
        let (cout, cin) = (u.outChannels, u.inChannels)
        let points = Int(SEPME_WINOGRAD_POINTS)
        let workers = Swift.min(points, Parallel.threadCount)
        // Greedy by cost: the fp32 points first, each to the least loaded worker.
        var load = [Int](repeating: 0, count: workers)
        var assigned = [[Int]](repeating: [], count: workers)
        for point in u.fp32Points + (0..<points).filter({ u.packed[$0] != nil }) {
            let w = load.indices.min { load[$0] < load[$1] } ?? 0
            assigned[w].append(point)
            load[w] += u.packed[point] == nil ? 2 : 1
        }
        let packedCount = sepme_bf16_packed_right_count(cin, columns)
        let columnPanels = (columns + Int(SEPME_BF16_NR) - 1) / Int(SEPME_BF16_NR)
        // The workers' buffers come from the calling thread as one block (see `DirectConv3x3.run`).
        let bytes = workers * packedCount * 2
        let buffers = LargeBlockCache.allocate(byteCount: bytes).bindMemory(to: UInt16.self, capacity: workers * packedCount)
        defer { LargeBlockCache.deallocate(UnsafeMutableRawPointer(buffers), byteCount: bytes) }
        BLASThreading.forEachItem(workers) { worker in
            let buffer = buffers + worker * packedCount
            for point in assigned[worker] {
                let (vPoint, mPoint) = (v + point * cin * columns, m + point * cout * columns)
                if let left = u.packed[point] {
                    sepme_bf16_pack_right(buffer, vPoint, cin, columns, columns, 1, 0, columnPanels)
                    sepme_bf16_gemm(cout, columns, cin, left.storage, buffer, mPoint, columns, 0, 0, left.panels, 0, columnPanels)
                } else if let a = u.fp32Operand(point) {
                    BLAS.sgemm(
                        transA: false, transB: false, m: cout, n: columns, k: cin, a: a, lda: cin, b: vPoint, ldb: columns,
                        c: mPoint, ldc: columns)
                }
            }
        }
    }

    /// Splits segments × channels into `workers` contiguous runs and calls `body(worker, segment, channels)`
    /// for each segment's part of each run, the runs in parallel.
    private static func forEachChannelRange(
        segments: Int, channels: Int, workers: Int, _ body: (Int, Int, Range<Int>) -> Void
    ) {
        let units = segments * channels
        let chunks = Swift.min(workers, units)
        let perChunk = (units + chunks - 1) / chunks
        Parallel.forEach(chunks) { worker in
            var unit = worker * perChunk
            let end = Swift.min(units, unit + perChunk)
            while unit < end {
                let s = unit / channels
                let c0 = unit % channels
                let c1 = Swift.min(channels, c0 + end - unit)
                body(worker, s, c0..<c1)
                unit += c1 - c0
            }
        }
    }
}
