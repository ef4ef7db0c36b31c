import CMatrixKernels
import CVectorMath

// Attention to longer key sequences (the self-attention of a UNet level over its latent pixels) on
// the fused key tiles of attention_tiles.c, forward and backward, on CPUs with AVX-512F: the same
// online softmax and the same sums as `AttentionKernel.forwardBlock` / `backwardHead`, bit for bit,
// without their SGEMM calls per tile. Kᵀ and Vᵀ go to the tiles in panels of 16 keys
// (`panelsPerHead`) rather than as row-major matrices, whose rows a multiple of 4 KiB apart all fall
// in the same L1 sets.

extension AttentionKernel {
    /// Whether the forward runs on the fused key tiles: tiles of at most 512 keys, each but the first
    /// starting a panel, and the conditions of the fused rows otherwise (the products sepme's AVX-512F
    /// SGEMM, the AVX2 / AVX-512F row kernels; heads at most one SGEMM slice wide). The forward keeps no
    /// P on these. Elsewhere, forwardBlock.
    static func usesFusedTiles(_ s: AttentionShape) -> Bool {
        fusedTilesRun(keyBlock: s.keyBlock, s) && s.d <= Int(SEPME_SGEMM_KC)
    }

    /// Whether the backward (P recomputed from the log-sum-exp) runs on the fused key tiles: the
    /// forward's conditions for its tile, query blocks and value widths of at most one SGEMM slice (the
    /// rows' accumulation of dV and dK sums one slice).
    static func usesFusedBackwardTiles(_ s: AttentionShape) -> Bool {
        fusedTilesRun(keyBlock: Swift.min(s.backwardKeyBlock, s.lk), s) && s.backwardBlock <= Int(SEPME_SGEMM_KC)
            && s.d <= Int(SEPME_SGEMM_KC) && s.dv <= Int(SEPME_SGEMM_KC)
    }

    private static func fusedTilesRun(keyBlock: Int, _ s: AttentionShape) -> Bool {
        fusedRows.enabled && s.d >= 1 && s.dv >= 1 && keyBlock >= 1 && keyBlock <= 512
            && (keyBlock % 16 == 0 || keyBlock >= s.lk)
            && SGEMMKernel.path == .avx512 && sepme_vector_math_uses_avx2() == 1 && fusedRowsAvailable
    }

    /// Floats of one head's panels of `rows` rows × `columns` (rows rounded up to 16).
    static func panelStride(rows: Int, columns: Int) -> Int { (rows + 15) / 16 * 16 * columns }

    /// Each head's [rows, columns] matrix transposed into panels of 16 rows, [⌈rows / 16⌉][columns][16]
    /// with zeros past `rows` (attention_tiles.c's layout of Kᵀ and Vᵀ), in a new buffer the caller
    /// deallocates.
    // x: [heads, rows, columns] -> [heads, ⌈rows / 16⌉, columns, 16]
    static func panelsPerHead(_ x: UnsafePointer<Float>, heads: Int, rows: Int, columns: Int) -> UnsafeMutablePointer<Float> {
        let stride = panelStride(rows: rows, columns: columns)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: heads * stride)
        run(heads) { h in
            let src = x + h * rows * columns
            let dst = out + h * stride
            for panel in 0..<(rows + 15) / 16 {
                let block = dst + panel * 16 * columns
                for t in 0..<16 {
                    let r = panel * 16 + t
                    if r < rows {
                        for c in 0..<columns { block[c * 16 + t] = src[r * columns + c] }
                    } else {
                        for c in 0..<columns { block[c * 16 + t] = 0 }
                    }
                }
            }
        }
        return out
    }

    /// The forward on the fused key tiles, per (head, query block) as forwardBlock's work items.
    // q: [heads, Lq, D], k: [heads, Lk, D], v: [heads, Lk, Dv] -> out: [heads, Lq, Dv], lse: [heads, Lq]
    static func forwardOnTiles(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, _ s: AttentionShape,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        let keyPanels = panelsPerHead(k, heads: s.heads, rows: s.lk, columns: s.d)
        defer { keyPanels.deallocate() }
        let stride = panelStride(rows: s.lk, columns: s.d)
        let nb = s.blocksPerHead
        run(s.heads * nb) { item in
            let h = item / nb
            let r0 = (item % nb) * s.block
            let rows = Swift.min(s.block, s.lq - r0)
            let status = sepme_attention_tiles(
                q + (h * s.lq + r0) * s.d, keyPanels + h * stride, v + h * s.lk * s.dv, rows, s.d, s.lk, s.dv, s.keyBlock,
                s.scale, out + (h * s.lq + r0) * s.dv, lse + h * s.lq + r0)
            precondition(status == 0, "sepme_attention_tiles refused a shape usesFusedTiles admits: \(s)")
        }
    }

    /// The backward on the fused key tiles (P recomputed), per head as backwardHead's work items: for
    /// each query block and key tile, P, scale · dS and dQ on the tile (`sepme_attention_tiles_backward`),
    /// then dV += Pᵀ dO and dK += (scale · dS)ᵀ Q on the rows' accumulation. dq is written, dk and dv are
    /// overwritten; dq or dk is wanted.
    // dOut, out: [heads, Lq, Dv], lse: [heads, Lq] -> dq: [heads, Lq, D], dk: [heads, Lk, D], dv: [heads, Lk, Dv]
    static func backwardOnTiles(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafePointer<Float>,
        lse: UnsafePointer<Float>, dOut: UnsafePointer<Float>, _ s: AttentionShape, dq: UnsafeMutablePointer<Float>?,
        dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?
    ) {
        let keyPanels = panelsPerHead(k, heads: s.heads, rows: s.lk, columns: s.d)
        let valuePanels = panelsPerHead(v, heads: s.heads, rows: s.lk, columns: s.dv)
        defer {
            keyPanels.deallocate()
            valuePanels.deallocate()
        }
        let (keyStride, valueStride) = (panelStride(rows: s.lk, columns: s.d), panelStride(rows: s.lk, columns: s.dv))
        let kb = Swift.min(s.backwardKeyBlock, s.lk)
        let block = s.backwardBlock
        run(s.heads) { h in
            // Scratch: the tile's P, scale · dS, and delta.
            let p = UnsafeMutablePointer<Float>.allocate(capacity: 2 * block * kb + block)
            defer { p.deallocate() }
            let dss = p + block * kb
            let delta = dss + block * kb
            let (dkAcc, dvAcc) = zeroedKeyGradients(dk: dk, dv: dv, head: h, s)
            for r0 in stride(from: 0, to: s.lq, by: block) {
                let rows = Swift.min(block, s.lq - r0)
                let qb = q + (h * s.lq + r0) * s.d
                let dob = dOut + (h * s.lq + r0) * s.dv
                let ob = out + (h * s.lq + r0) * s.dv
                // delta_i = rowsum(dO ∘ O)_i, summed as backwardHead sums it.
                for i in 0..<rows { delta[i] = VectorMath.dot(dob + i * s.dv, ob + i * s.dv, s.dv) }
                for j0 in stride(from: 0, to: s.lk, by: kb) {
                    let cols = Swift.min(kb, s.lk - j0)
                    let status = sepme_attention_tiles_backward(
                        qb, keyPanels + h * keyStride + j0 * s.d, k + (h * s.lk + j0) * s.d,
                        valuePanels + h * valueStride + j0 * s.dv, dob, lse + h * s.lq + r0, delta, rows, s.d, cols, s.dv,
                        s.scale, p, dss, dq.map { $0 + (h * s.lq + r0) * s.d }, j0 == 0 ? 1 : 0)
                    precondition(status == 0, "sepme_attention_tiles_backward refused a shape usesFusedBackwardTiles admits: \(s)")
                    // dV_j += Pᵀ dO_blk, dK_j += (scale · dS)ᵀ Q_blk
                    if let dvAcc { accumulateTransposed(p, dob, rows: rows, keys: cols, columns: s.dv, into: dvAcc + j0 * s.dv) }
                    if let dkAcc { accumulateTransposed(dss, qb, rows: rows, keys: cols, columns: s.d, into: dkAcc + j0 * s.d) }
                }
            }
        }
    }

    /// c += aᵀ b on the fused rows' accumulation (the SGEMM's bits for rows within one slice), or on
    /// the SGEMM where that refuses.
    // a: [rows, keys], b: [rows, columns] -> c: [keys, columns] (accumulated)
    private static func accumulateTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, keys: Int, columns: Int,
        into c: UnsafeMutablePointer<Float>
    ) {
        if sepme_attention_rows_accumulate(a, keys, b, rows, keys, columns, c) == 0 { return }
        BLAS.sgemm(
            transA: true, transB: false, m: keys, n: columns, k: rows, a: a, lda: keys,
            b: b, ldb: columns, beta: 1, c: c, ldc: columns)
    }
}
