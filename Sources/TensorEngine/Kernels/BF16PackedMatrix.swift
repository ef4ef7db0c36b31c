import CMatrixKernels

/// A matrix rounded to bf16 (nearest even; subnormals to signed zero) and packed for `BF16GEMM` as its
/// left operand (m × k, rows in panels of 12) or its right operand (k × n, columns in panels of 32),
/// pairs of consecutive k indices interleaved (the operand layout of vdpbf16ps; see
/// sepme_matrix_kernels.h). Packing runs on all cores; the buffer is immutable afterwards and is
/// counted in `MemoryStatistics` while it lives.
public final class BF16PackedMatrix: @unchecked Sendable {
    public enum Side: Sendable { case left, right }

    public let side: Side
    /// Rows of the product this operand contributes (m for a left operand, n for a right one).
    public let lines: Int
    /// Length of the summed dimension.
    public let depth: Int
    let storage: UnsafeMutablePointer<UInt16>
    let count: Int

    /// Lines per panel on this side.
    static func panelWidth(_ side: Side) -> Int { side == .left ? Int(SEPME_BF16_MR) : Int(SEPME_BF16_NR) }

    var panels: Int { (lines + Self.panelWidth(side) - 1) / Self.panelWidth(side) }

    /// Packs the m × k left operand whose element (i, l) is `source[i * rowStride + l * depthStride]`.
    // source: [m, k] (strided) -> packed left operand
    public convenience init(left source: UnsafePointer<Float>, rows m: Int, depth k: Int, rowStride: Int, depthStride: Int) {
        self.init(side: .left, lines: m, depth: k)
        fill(source, lineStride: rowStride, depthStride: depthStride)
    }

    /// Packs the k × n right operand whose element (l, j) is `source[l * depthStride + j * columnStride]`.
    // source: [k, n] (strided) -> packed right operand
    public convenience init(right source: UnsafePointer<Float>, depth k: Int, columns n: Int, depthStride: Int, columnStride: Int) {
        self.init(side: .right, lines: n, depth: k)
        fill(source, lineStride: columnStride, depthStride: depthStride)
    }

    /// The weight of `Tensor.linear` ([out, in]) as the right operand of x Wᵀ: k = in, n = out.
    // weight: [out, in] -> packed right operand [in, out]
    public convenience init(linearWeight weight: Tensor) {
        precondition(weight.rank == 2, "BF16PackedMatrix: a linear weight is [out, in], got \(weight.shape)")
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        self.init(right: weight.pointer, depth: inF, columns: outF, depthStride: 1, columnStride: inF)
    }

    /// The weight of a convolution ([Cout, Cin, kh, kw]) as the left operand of W · columns: m = Cout,
    /// k = Cin·kh·kw.
    // weight: [Cout, Cin, kh, kw] -> packed left operand [Cout, Cin·kh·kw]
    public convenience init(convolutionWeight weight: Tensor) {
        precondition(weight.rank == 4, "BF16PackedMatrix: a convolution weight is [Cout, Cin, kh, kw], got \(weight.shape)")
        let m = weight.shape[0]
        let k = weight.shape[1] * weight.shape[2] * weight.shape[3]
        self.init(left: weight.pointer, rows: m, depth: k, rowStride: k, depthStride: 1)
    }

    /// The im2col columns of output rows [rowBegin, rowEnd) of `image` under `g` as the right operand of
    /// W · columns (k = g.patchSize, n = the pixels of those rows), gathered from the image while packing:
    /// the words `Im2Col.unfold` followed by `init(right:)` gives, without writing the columns.
    // image: [Cin, H, W] -> packed right operand [Cin·kh·kw, (rowEnd − rowBegin)·Wout]
    public convenience init(columnsOf image: UnsafePointer<Float>, _ g: Conv2DGeometry, rowBegin: Int, rowEnd: Int) {
        let n = (rowEnd - rowBegin) * g.outW
        self.init(side: .right, lines: n, depth: g.patchSize)
        let (storage, k) = (self.storage, g.patchSize)
        Parallel.forEachChunk(panels, minChunk: Swift.max(1, (1 << 16) / (Self.panelWidth(.right) * Swift.max(k, 1)))) { range in
            var columns = sepme_sgemm_columns(
                image: image, height: g.height, width: g.width, kernel_h: g.kernelH, kernel_w: g.kernelW,
                stride_h: g.strideH, stride_w: g.strideW, pad_h: g.padH, pad_w: g.padW, out_w: g.outW, row_begin: rowBegin)
            sepme_bf16_pack_right_columns(storage, &columns, k, n, range.lowerBound, range.upperBound)
        }
    }

    private init(side: Side, lines: Int, depth: Int) {
        precondition(lines >= 0 && depth >= 0, "BF16PackedMatrix: negative size \(lines)×\(depth)")
        self.side = side
        self.lines = lines
        self.depth = depth
        count =
            side == .left
            ? sepme_bf16_packed_left_count(lines, depth) : sepme_bf16_packed_right_count(depth, lines)
        storage = LargeBlockCache.allocate(byteCount: Swift.max(count, 1) * 2).bindMemory(to: UInt16.self, capacity: Swift.max(count, 1))
        MemoryStatistics.shared.allocated(bytes: allocatedBytes)
    }

    deinit {
        LargeBlockCache.deallocate(UnsafeMutableRawPointer(storage), byteCount: allocatedBytes)
        MemoryStatistics.shared.freed(bytes: allocatedBytes)
    }

    /// Bytes of the buffer (at least one value, so that an empty matrix still owns a valid pointer).
    private var allocatedBytes: Int { Swift.max(count, 1) * 2 }

    /// Bytes held by the packed values.
    public var byteCount: Int { count * 2 }

    private func fill(_ source: UnsafePointer<Float>, lineStride: Int, depthStride: Int) {
        let (side, lines, depth, storage) = (self.side, self.lines, self.depth, self.storage)
        // A chunk of panels covers at least about 2^16 values.
        let perPanel = Swift.max(1, Self.panelWidth(side) * Swift.max(depth, 1))
        Parallel.forEachChunk(panels, minChunk: Swift.max(1, (1 << 16) / perPanel)) { range in
            switch side {
            case .left:
                sepme_bf16_pack_left(storage, source, lines, depth, lineStride, depthStride, range.lowerBound, range.upperBound)
            case .right:
                sepme_bf16_pack_right(storage, source, depth, lines, depthStride, lineStride, range.lowerBound, range.upperBound)
            }
        }
    }
}
