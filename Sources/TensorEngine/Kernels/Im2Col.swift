// im2col / col2im for 2-D convolution in NCHW layout (the unfolding of torch.nn.functional.unfold,
// restricted to a band of output rows so the column buffer stays bounded at SD1 sizes).

/// Geometry of one 2-D convolution (groups = 1, dilation = 1).
public struct Conv2DGeometry: Equatable, Sendable {
    public let channels: Int, height: Int, width: Int
    public let kernelH: Int, kernelW: Int
    public let strideH: Int, strideW: Int
    public let padH: Int, padW: Int

    public init(
        channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
        strideH: Int, strideW: Int, padH: Int, padW: Int
    ) {
        self.channels = channels
        self.height = height
        self.width = width
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.padH = padH
        self.padW = padW
    }

    /// Output height: floor((H + 2 pad - kh) / stride) + 1 (PyTorch Conv2d).
    public var outH: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outW: Int { (width + 2 * padW - kernelW) / strideW + 1 }
    /// Rows of the column matrix: Cin * kh * kw.
    public var patchSize: Int { channels * kernelH * kernelW }
    /// A 3×3 convolution with stride 1 and padding 1 (output the input's size): the geometry the direct
    /// kernel and the Winograd route compute.
    public var isSamePadded3x3: Bool {
        kernelH == 3 && kernelW == 3 && strideH == 1 && strideW == 1 && padH == 1 && padW == 1
    }

    /// A 1×1, stride-1, unpadded convolution is a plain GEMM over the input planes.
    public var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
    }
}

enum Im2Col {
    /// Writes cols[k, (oh - rowStart) * outW + ow] = x[c, oh*sh - ph + i, ow*sw - pw + j] (0 outside)
    /// for k = (c * kh + i) * kw + j and output rows oh in rowStart..<rowEnd.
    // x: [C, H, W] -> cols: [C*kh*kw, (rowEnd-rowStart)*outW]
    static func unfold(
        _ x: UnsafePointer<Float>, _ g: Conv2DGeometry, rowStart: Int, rowEnd: Int,
        into cols: UnsafeMutablePointer<Float>
    ) {
        let ow = g.outW
        let nCols = (rowEnd - rowStart) * ow
        let kk = g.kernelH * g.kernelW
        Parallel.forEachChunk(g.patchSize, minChunk: Swift.max(1, 8192 / Swift.max(nCols, 1))) { rows in
            for k in rows {
                let c = k / kk
                let i = (k % kk) / g.kernelW
                let j = k % g.kernelW
                let plane = x + c * g.height * g.width
                let dstRow = cols + k * nCols
                // Output columns whose input column lies inside the image: lo..<hi.
                let (lo, hi) = validRange(offset: j - g.padW, stride: g.strideW, inSize: g.width, outSize: ow)
                for oh in rowStart..<rowEnd {
                    let dst = dstRow + (oh - rowStart) * ow
                    let ih = oh * g.strideH - g.padH + i
                    if ih < 0 || ih >= g.height || lo >= hi {
                        dst.update(repeating: 0, count: ow)
                        continue
                    }
                    if lo > 0 { dst.update(repeating: 0, count: lo) }
                    let src = plane + ih * g.width + (j - g.padW)
                    if g.strideW == 1 {
                        (dst + lo).update(from: src + lo, count: hi - lo)
                    } else {
                        for o in lo..<hi { dst[o] = src[o * g.strideW] }
                    }
                    if hi < ow { (dst + hi).update(repeating: 0, count: ow - hi) }
                }
            }
        }
    }

    /// Columns [firstColumn, firstColumn + columns) of the whole image's column matrix (what `unfold`
    /// writes for rows 0..<outH), one value at a time: the CBLAS fallback of `SGEMMKernel.convolve`.
    // x: [C, H, W] -> cols: [C*kh*kw, columns]
    static func gather(
        _ x: UnsafePointer<Float>, _ g: Conv2DGeometry, firstColumn: Int, columns: Int,
        into cols: UnsafeMutablePointer<Float>
    ) {
        let kk = g.kernelH * g.kernelW
        for k in 0..<g.patchSize {
            let (c, i, j) = (k / kk, (k % kk) / g.kernelW, k % g.kernelW)
            for t in 0..<columns {
                let (oh, ow) = ((firstColumn + t) / g.outW, (firstColumn + t) % g.outW)
                let (ih, iw) = (oh * g.strideH - g.padH + i, ow * g.strideW - g.padW + j)
                let inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width
                cols[k * columns + t] = inside ? x[(c * g.height + ih) * g.width + iw] : 0
            }
        }
    }

    /// The adjoint of `unfold`: dx[c, ih, iw] += cols[k, ...] for every column that read it.
    /// Parallel over input channels (each channel's kh*kw rows write only its own plane).
    // cols: [C*kh*kw, (rowEnd-rowStart)*outW] -> dx: [C, H, W] (accumulated)
    static func fold(
        _ cols: UnsafePointer<Float>, _ g: Conv2DGeometry, rowStart: Int, rowEnd: Int,
        into dx: UnsafeMutablePointer<Float>
    ) {
        let ow = g.outW
        let nCols = (rowEnd - rowStart) * ow
        let kk = g.kernelH * g.kernelW
        Parallel.forEachChunk(g.channels, minChunk: Swift.max(1, 8192 / Swift.max(nCols * kk, 1))) { chans in
            for c in chans {
                let plane = dx + c * g.height * g.width
                for i in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        let k = (c * g.kernelH + i) * g.kernelW + j
                        let srcRow = cols + k * nCols
                        let (lo, hi) = validRange(offset: j - g.padW, stride: g.strideW, inSize: g.width, outSize: ow)
                        if lo >= hi { continue }
                        for oh in rowStart..<rowEnd {
                            let ih = oh * g.strideH - g.padH + i
                            if ih < 0 || ih >= g.height { continue }
                            let src = srcRow + (oh - rowStart) * ow
                            let dst = plane + ih * g.width + (j - g.padW)
                            if g.strideW == 1 {
                                for o in lo..<hi { dst[o] += src[o] }
                            } else {
                                for o in lo..<hi { dst[o * g.strideW] += src[o] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Output columns o with 0 <= o*stride + offset < inSize, as a half-open range clipped to outSize.
    @inline(__always)
    static func validRange(offset: Int, stride: Int, inSize: Int, outSize: Int) -> (Int, Int) {
        // o >= ceil(-offset / stride), o <= floor((inSize - 1 - offset) / stride)
        let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = inSize - 1 - offset
        let hi = last < 0 ? 0 : Swift.min(outSize, last / stride + 1)
        return (Swift.min(lo, outSize), hi)
    }
}
