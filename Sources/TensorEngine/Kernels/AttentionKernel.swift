import CMatrixKernels
import CVectorMath
import Foundation

// Fused scaled-dot-product attention in tiles of query rows × key columns (FlashAttention-2,
// Dao 2023, Algorithms 1–2): the forward pass keeps a running row maximum m and row sum l per
// query row, rescales the output accumulator by e^(m_old − m_new) when a later key block raises
// the maximum, and stores lse = m + log l; the backward pass recomputes each P tile from lse.
// Neither the [Lq, Lk] attention matrix nor a [block, Lk] row strip is stored for long key
// sequences; a score tile of `block × keyBlock` floats (64 KiB at the defaults) stays in the
// per-core L2. Short key sequences (cross-attention to 77 text tokens) are the exception: a
// recorded forward keeps P, at most Lk / Dv ≤ 128 / Dv times the attention output's memory, and
// the backward skips one GEMM in five. On AVX-512F those short sequences run on fused rows
// (`sepme_attention_rows`, attention_rows.c, forward and backward), and longer ones on fused key
// tiles (AttentionTiles.swift, attention_tiles.c, forward and backward), both with this path's bits.
//
// Threading: the tiles are small GEMMs (32 × 512 × 40), which threaded OpenBLAS splits poorly
// and which oversubscribe the cores when called from parallel workers. So the work items —
// (head, query block) forward, heads backward — run through `BLASThreading.forEachItem`: in
// parallel with single-threaded OpenBLAS GEMMs. Throughput: `sepme bench attention`
// (docs/benchmarks.md).

/// Sizes of one attention call: `heads` independent (batch × head) problems.
struct AttentionShape {
    let heads: Int, lq: Int, lk: Int, d: Int, dv: Int
    let scale: Float
    /// Query rows per tile.
    let block: Int
    /// Key columns per tile.
    let keyBlock: Int
    /// Query rows and key columns per tile of the backward pass (taller tiles: the dK, dV GEMMs
    /// have the query rows as their inner dimension, and the head's dK, dV are revisited per block).
    let backwardBlock: Int, backwardKeyBlock: Int
    var blocksPerHead: Int { (lq + block - 1) / block }
    /// Multiply-adds of the forward's two products, Q Kᵀ and P V, over all heads (`FlopTally`).
    var forwardMultiplyAdds: Int { heads * lq * lk * (d + dv) }
}

enum AttentionKernel {
    /// Work items on single-threaded BLAS when possible (`BLASThreading`).
    static func run(_ count: Int, _ body: (Int) -> Void) { BLASThreading.forEachItem(count, body) }

    /// Forward: out = softmax(scale · Q Kᵀ) V per head; lse[h, i] = log Σ_j exp(scale · q_i·k_j).
    /// `probabilities`, when given, receives P = softmax(scale · Q Kᵀ); only with all keys in one
    /// tile (Lk ≤ keyBlock).
    // q: [heads, Lq, D], k: [heads, Lk, D], v: [heads, Lk, Dv] -> out: [heads, Lq, Dv], lse: [heads, Lq], probabilities: [heads, Lq, Lk]
    static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        _ s: AttentionShape, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        probabilities: UnsafeMutablePointer<Float>? = nil
    ) {
        precondition(probabilities == nil || s.lk <= s.keyBlock, "AttentionKernel.forward: P is kept only for one key tile")
        let nb = s.blocksPerHead
        let fused = usesFusedRows(s)
        if !fused && probabilities == nil && usesFusedTiles(s) {
            forwardOnTiles(q: q, k: k, v: v, s, out: out, lse: lse)
            return
        }
        let kT = transposedPerHead(k, heads: s.heads, rows: s.lk, columns: s.d)
        defer { kT.deallocate() }
        run(s.heads * nb) { item in
            let h = item / nb
            let r0 = (item % nb) * s.block
            let rows = Swift.min(s.block, s.lq - r0)
            if fused {
                // Same bits as forwardBlock (attention_rows.c); it refuses only what usesFusedRows excludes.
                let status = sepme_attention_rows(
                    q + (h * s.lq + r0) * s.d, kT + h * s.d * s.lk, v + h * s.lk * s.dv, rows, s.d, s.lk, s.dv, s.scale,
                    out + (h * s.lq + r0) * s.dv, lse + h * s.lq + r0, probabilities.map { $0 + (h * s.lq + r0) * s.lk })
                if status == 0 { return }
            }
            forwardBlock(
                q: q, kT: kT, v: v, s, head: h, row0: r0, rows: rows, out: out, lse: lse, probabilities: probabilities)
        }
    }

    /// Whether the forward runs on the fused rows of `sepme_attention_rows` (attention_rows.c): all
    /// keys in one tile and at most 128 of them (cross-attention to text tokens), a head width SGEMM
    /// sums in one slice, and the kernels whose bits the fused rows reproduce (sepme's AVX-512F
    /// products, the AVX2 / AVX-512F softmax rows). Elsewhere, forwardBlock.
    static func usesFusedRows(_ s: AttentionShape) -> Bool {
        fusedRows.enabled && s.lk <= s.keyBlock && s.lk <= 128 && s.d <= Int(SEPME_SGEMM_KC) && SGEMMKernel.path == .avx512
            && sepme_vector_math_uses_avx2() == 1 && fusedRowsAvailable
    }

    /// Whether this CPU can run the fused rows and tiles (AVX-512F).
    static let fusedRowsAvailable = sepme_attention_rows_available() == 1

    final class FusedRowsSetting: @unchecked Sendable {
        // Written only by `withFusedRows` on the thread that then runs the attention (never while
        // attention runs on other threads).
        var enabled = ProcessInfo.processInfo.environment["SEPME_ATTN_FUSED"] != "0"
    }
    static let fusedRows = FusedRowsSetting()

    /// Runs `body` with the fused rows allowed or not (tests and `bench attention`: the general path
    /// on the same shapes). `SEPME_ATTN_FUSED=0` in the environment turns them off for the process.
    static func withFusedRows<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        let previous = fusedRows.enabled
        fusedRows.enabled = enabled
        defer { fusedRows.enabled = previous }
        return try body()
    }

    /// Each head's [rows, columns] matrix transposed to [columns, rows], in a new buffer the caller
    /// deallocates. The score GEMMs read Kᵀ (and the backward Vᵀ) without a transposed operand:
    /// OpenBLAS's small-matrix NN kernel beats its NT kernel at these thin shapes.
    // x: [heads, rows, columns] -> [heads, columns, rows]
    static func transposedPerHead(_ x: UnsafePointer<Float>, heads: Int, rows: Int, columns: Int) -> UnsafeMutablePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: heads * rows * columns)
        run(heads) { h in
            let src = x + h * rows * columns
            let dst = out + h * rows * columns
            for r in 0..<rows {
                for c in 0..<columns { dst[c * rows + r] = src[r * columns + c] }
            }
        }
        return out
    }

    /// One block of query rows against all key blocks (online softmax).
    private static func forwardBlock(
        q: UnsafePointer<Float>, kT: UnsafePointer<Float>, v: UnsafePointer<Float>,
        _ s: AttentionShape, head h: Int, row0 r0: Int, rows: Int,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        probabilities: UnsafeMutablePointer<Float>?
    ) {
        let kb = Swift.min(s.keyBlock, s.lk)
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: rows * kb + 2 * rows)
        defer { tile.deallocate() }
        let rowMax = tile + rows * kb
        let rowSum = rowMax + rows
        let qb = q + (h * s.lq + r0) * s.d
        let ob = out + (h * s.lq + r0) * s.dv
        var j0 = 0
        while j0 < s.lk {
            let cols = Swift.min(kb, s.lk - j0)
            // S = scale · Q_blk K_jᵀ
            BLAS.sgemm(
                transA: false, transB: false, m: rows, n: cols, k: s.d, alpha: s.scale, a: qb, lda: s.d,
                b: kT + h * s.d * s.lk + j0, ldb: s.lk, c: tile, ldc: cols)
            softmaxTile(tile, rows: rows, cols: cols, first: j0 == 0, rowMax: rowMax, rowSum: rowSum) { i, correction in
                VectorMath.scaleInPlace(ob + i * s.dv, s.dv, by: correction)
            }
            // O_blk (+)= exp(S − m) V_j; normalised by 1 / l once all key blocks are in.
            BLAS.sgemm(
                transA: false, transB: false, m: rows, n: s.dv, k: cols, a: tile, lda: cols,
                b: v + (h * s.lk + j0) * s.dv, ldb: s.dv, beta: j0 == 0 ? 0 : 1, c: ob, ldc: s.dv)
            j0 += cols
        }
        for i in 0..<rows {
            lse[h * s.lq + r0 + i] = rowMax[i] + logf(rowSum[i])
            VectorMath.scaleInPlace(ob + i * s.dv, s.dv, by: 1 / rowSum[i])
        }
        if let probabilities {
            // One key tile: the tile holds exp(S − m) for every key; P = that / l.
            let pb = probabilities + (h * s.lq + r0) * s.lk
            pb.update(from: tile, count: rows * s.lk)
            for i in 0..<rows { VectorMath.scaleInPlace(pb + i * s.lk, s.lk, by: 1 / rowSum[i]) }
        }
    }

    /// One key tile of the online softmax (FlashAttention-2, Algorithm 1, lines 9–10): each row of
    /// `tile` becomes exp(S − m) against the running maximum m, the running sums take the tile's sums,
    /// and where a row's maximum rose, `rescale(i, e^(m_old − m_new))` scales what earlier tiles added
    /// to that row's output. `first`: the first tile, which sets m and the sums. With `scale` (> 0) the
    /// tile holds unscaled scores S and becomes exp(scale (S − m)), m the unscaled maximum, so the scores
    /// need no pass of their own to be scaled; scale 1 is the plain step, bit for bit.
    // tile: [rows, cols] in place; rowMax, rowSum: [rows]
    static func softmaxTile(
        _ tile: UnsafeMutablePointer<Float>, rows: Int, cols: Int, first: Bool, rowMax: UnsafeMutablePointer<Float>,
        rowSum: UnsafeMutablePointer<Float>, scale: Float = 1, rescale: (Int, Float) -> Void
    ) {
        for i in 0..<rows {
            let row = tile + i * cols
            let tileMax = VectorMath.rowMax(row, cols)
            if first {
                rowMax[i] = tileMax
                rowSum[i] = VectorMath.expScaledSum(row, cols, shift: tileMax, scale: scale)
            } else {
                let m = Swift.max(rowMax[i], tileMax)
                let correction = VectorMath.exp((rowMax[i] - m) * scale)
                rowSum[i] = rowSum[i] * correction + VectorMath.expScaledSum(row, cols, shift: m, scale: scale)
                if correction != 1 { rescale(i, correction) }
                rowMax[i] = m
            }
        }
    }

    /// Backward from the saved logsumexp, or from the forward's saved P when `probabilities` is given
    /// (no recomputation of Q Kᵀ). Gradient buffers are nil when not needed; dq is written, dk and dv
    /// are overwritten (the caller need not zero them).
    // dOut, out: [heads, Lq, Dv], lse: [heads, Lq], probabilities: [heads, Lq, Lk]
    //   -> dq: [heads, Lq, D], dk: [heads, Lk, D], dv: [heads, Lk, Dv]
    static func backward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>, probabilities: UnsafePointer<Float>? = nil,
        dOut: UnsafePointer<Float>, _ s: AttentionShape, dq: UnsafeMutablePointer<Float>?,
        dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?
    ) {
        if probabilities == nil && (dq != nil || dk != nil) && usesFusedBackwardTiles(s) {
            backwardOnTiles(q: q, k: k, v: v, out: out, lse: lse, dOut: dOut, s, dq: dq, dk: dk, dv: dv)
            return
        }
        let source =
            probabilities.map { ProbabilitySource.saved($0) }
            ?? .recomputed(kT: UnsafePointer(transposedPerHead(k, heads: s.heads, rows: s.lk, columns: s.d)))
        let vT = dq != nil || dk != nil ? transposedPerHead(v, heads: s.heads, rows: s.lk, columns: s.dv) : nil
        defer {
            if case .recomputed(let kT) = source { kT.deallocate() }
            vT?.deallocate()
        }
        // Each head owns its dK and dV rows, so heads are the parallel work items.
        run(s.heads) { h in
            backwardHead(
                q: q, k: k, source: source, vT: vT, out: out, lse: lse, dOut: dOut, s, head: h,
                dq: dq, dk: dk, dv: dv)
        }
    }

    /// Head `h`'s rows of dK and dV, where wanted, zeroed: the backward adds each tile's sums into them.
    // dk: [heads, Lk, D], dv: [heads, Lk, Dv] -> head h's [Lk, D], [Lk, Dv]
    static func zeroedKeyGradients(
        dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?, head h: Int, _ s: AttentionShape
    ) -> (dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?) {
        let dkHead = dk.map { $0 + h * s.lk * s.d }
        let dvHead = dv.map { $0 + h * s.lk * s.dv }
        dkHead?.update(repeating: 0, count: s.lk * s.d)
        dvHead?.update(repeating: 0, count: s.lk * s.dv)
        return (dkHead, dvHead)
    }

    /// Where the backward pass gets P: the forward's saved P ([heads, Lq, Lk]), or recomputed from
    /// Kᵀ ([heads, D, Lk]) and the saved logsumexp.
    private enum ProbabilitySource {
        case saved(UnsafePointer<Float>)
        case recomputed(kT: UnsafePointer<Float>)
    }

    /// vT: [heads, Dv, Lk] when dq or dk is wanted.
    private static func backwardHead(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, source: ProbabilitySource,
        vT: UnsafePointer<Float>?,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
        dOut: UnsafePointer<Float>, _ s: AttentionShape, head h: Int, dq: UnsafeMutablePointer<Float>?,
        dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?
    ) {
        let kb = Swift.min(s.backwardKeyBlock, s.lk)
        let block = s.backwardBlock
        // Scratch: the recomputed P tile (not needed when the forward kept P), dP, and delta.
        var pTile = 0
        if case .recomputed = source { pTile = block * kb }
        // The fused rows (one key tile and the forward's P) also keep scale · dS for dK.
        var fused = false
        if case .saved = source, vT != nil { fused = usesFusedRows(s) && kb == s.lk && s.dv <= Int(SEPME_SGEMM_KC) }
        let scaledTile = fused ? block * kb : 0
        let p = UnsafeMutablePointer<Float>.allocate(capacity: pTile + block * kb + block + scaledTile)
        defer { p.deallocate() }
        let dp = p + pTile
        let delta = dp + block * kb
        let dss = delta + block
        let (dkAcc, dvAcc) = zeroedKeyGradients(dk: dk, dv: dv, head: h, s)
        // dS is needed for dq or dk, exactly when the caller made vT.
        for r0 in stride(from: 0, to: s.lq, by: block) {
            let rows = Swift.min(block, s.lq - r0)
            let qb = q + (h * s.lq + r0) * s.d
            let dqb = dq.map { $0 + (h * s.lq + r0) * s.d }
            let dob = dOut + (h * s.lq + r0) * s.dv
            let ob = out + (h * s.lq + r0) * s.dv
            let lseb = lse + h * s.lq + r0
            // delta_i = rowsum(dO ∘ O)_i = Σ_j P_ij dP_ij (the fused rows sum their own)
            func fillDelta() { for i in 0..<rows { delta[i] = VectorMath.dot(dob + i * s.dv, ob + i * s.dv, s.dv) } }
            if vT != nil && !fused { fillDelta() }
            var j0 = 0
            while j0 < s.lk {
                let cols = Swift.min(kb, s.lk - j0)
                let kj = k + (h * s.lk + j0) * s.d
                // P = exp(scale · Q_blk K_jᵀ − lse), or the forward's P (row stride Lk).
                let pt: UnsafePointer<Float>
                let ldp: Int
                switch source {
                case .saved(let probabilities):
                    pt = probabilities + (h * s.lq + r0) * s.lk + j0
                    ldp = s.lk
                case .recomputed(let kT):
                    BLAS.sgemm(
                        transA: false, transB: false, m: rows, n: cols, k: s.d, alpha: s.scale, a: qb, lda: s.d,
                        b: kT + h * s.d * s.lk + j0, ldb: s.lk, c: p, ldc: cols)
                    for i in 0..<rows { VectorMath.expShiftedInPlace(p + i * cols, cols, shift: lseb[i]) }
                    pt = UnsafePointer(p)
                    ldp = cols
                }
                // dV_j += Pᵀ dO_blk
                // (The fused rows' sums of at most one SGEMM slice of rows give the SGEMM's bits.)
                let fusedSums = fused && rows <= Int(SEPME_SGEMM_KC)
                if let dvAcc, !(fusedSums && sepme_attention_rows_accumulate(pt, ldp, dob, rows, cols, s.dv, dvAcc + j0 * s.dv) == 0) {
                    BLAS.sgemm(
                        transA: true, transB: false, m: cols, n: s.dv, k: rows, a: pt, lda: ldp,
                        b: dob, ldb: s.dv, beta: 1, c: dvAcc + j0 * s.dv, ldc: s.dv)
                }
                if let vT {
                    // One key tile and the forward's P: delta, dP, dS and dQ on the fused rows
                    // (attention_rows.c, the bits of the general branch), which refuse nothing
                    // `fused` admits.
                    let fusedRows =
                        fused
                        && sepme_attention_rows_backward(
                            dob, ob, pt, vT + h * s.dv * s.lk, kj, rows, s.d, s.lk, s.dv, s.scale, dss, dqb) == 0
                    if !fusedRows {
                        if fused { fillDelta() }
                        // dP = dO_blk V_jᵀ; dS = P ∘ (dP − delta)
                        BLAS.sgemm(
                            transA: false, transB: false, m: rows, n: cols, k: s.dv, a: dob, lda: s.dv,
                            b: vT + h * s.dv * s.lk + j0, ldb: s.lk, c: dp, ldc: cols)
                        for i in 0..<rows {
                            VectorMath.softmaxGradientInPlace(dp + i * cols, probabilities: pt + i * ldp, cols, delta: delta[i])
                        }
                        // dQ_blk (+)= scale · dS K_j
                        if let dqb {
                            BLAS.sgemm(
                                transA: false, transB: false, m: rows, n: s.d, k: cols, alpha: s.scale, a: dp,
                                lda: cols, b: kj, ldb: s.d, beta: j0 == 0 ? 0 : 1, c: dqb, ldc: s.d)
                        }
                    }
                    // dK_j += scale · dSᵀ Q_blk
                    if let dkAcc,
                        !(fusedRows && fusedSums && sepme_attention_rows_accumulate(dss, cols, qb, rows, cols, s.d, dkAcc + j0 * s.d) == 0)
                    {
                        BLAS.sgemm(
                            transA: true, transB: false, m: cols, n: s.d, k: rows, alpha: s.scale, a: dp,
                            lda: cols, b: qb, ldb: s.d, beta: 1, c: dkAcc + j0 * s.d, ldc: s.d)
                    }
                }
                j0 += cols
            }
        }
    }
}
