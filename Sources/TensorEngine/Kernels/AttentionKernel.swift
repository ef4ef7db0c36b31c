import Foundation

// Fused scaled-dot-product attention on blocks of query rows (the FlashAttention-2 scheme,
// Dao 2023, Algorithms 1–2, with whole key rows per block since Lk ≤ 4096 in SD1): the full
// [Lq, Lk] attention matrix is never materialised, only a [block, Lk] scratch per work item and the
// per-row logsumexp, from which the backward pass recomputes P.
//
// Threading: work items (head, query block) run one after another; each block GEMM is threaded by
// the BLAS library itself, and the row-wise softmax work between GEMMs is split over rows with
// Parallel.forEachChunk (no BLAS call inside a parallel loop). The BLAS thread count cannot be set
// through the portable `blas` link (openblas_set_num_threads is an OpenBLAS extension), and running
// block GEMMs inside Parallel.forEach on top of threaded OpenBLAS oversubscribed the cores: measured
// with `sepme bench attention` on the 2-core build machine (batch 2, 8 heads, D 40) it was slower
// than serial blocks with a threaded BLAS: 4096×77 cross-attention forward 692 ms vs 39 ms,
// 4096×4096 self-attention forward 8.5 s vs 5.3 s (perf: exec_blas_async, sched_yield spinning).
// With a single-threaded BLAS this scheme runs the GEMMs on one core; revisit if the BLAS changes.

/// Sizes of one attention call: `heads` independent (batch × head) problems.
struct AttentionShape {
    let heads: Int, lq: Int, lk: Int, d: Int, dv: Int
    let scale: Float
    let block: Int
    var blocksPerHead: Int { (lq + block - 1) / block }
}

enum AttentionKernel {
    /// Rows of a block handed to one thread in the row-wise softmax loops.
    static let rowsPerChunk = 8
    /// Forward: out = softmax(scale · Q Kᵀ) V per head; lse[h, i] = log Σ_j exp(scale · q_i·k_j).
    // q: [heads, Lq, D], k: [heads, Lk, D], v: [heads, Lk, Dv] -> out: [heads, Lq, Dv], lse: [heads, Lq]
    static func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                        _ s: AttentionShape, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
        let nb = s.blocksPerHead
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: s.block * s.lk + s.block)
        defer { scores.deallocate() }
        let invSum = scores + s.block * s.lk
        for item in 0..<(s.heads * nb) {
            let h = item / nb, r0 = (item % nb) * s.block
            let rows = Swift.min(s.block, s.lq - r0)
            let qb = q + (h * s.lq + r0) * s.d, kh = k + h * s.lk * s.d, vh = v + h * s.lk * s.dv
            // S = scale · Q_blk Kᵀ
            BLAS.sgemm(transA: false, transB: true, m: rows, n: s.lk, k: s.d, alpha: s.scale, a: qb, lda: s.d,
                       b: kh, ldb: s.d, c: scores, ldc: s.lk)
            Parallel.forEachChunk(rows, minChunk: rowsPerChunk) { range in
                for i in range {
                    let row = scores + i * s.lk
                    let m = VectorMath.rowMax(row, s.lk)
                    VectorMath.expShiftedInPlace(row, s.lk, shift: m)
                    let sum = VectorMath.sum(row, s.lk)
                    lse[h * s.lq + r0 + i] = m + logf(sum)
                    invSum[i] = 1 / sum
                }
            }
            // O_blk = diag(1 / rowsum) (exp(S − m) V): normalising the [rows, Dv] result instead of
            // the [rows, Lk] probabilities saves a pass over the scores.
            let ob = out + (h * s.lq + r0) * s.dv
            BLAS.sgemm(transA: false, transB: false, m: rows, n: s.dv, k: s.lk, a: scores, lda: s.lk,
                       b: vh, ldb: s.dv, c: ob, ldc: s.dv)
            for i in 0..<rows {
                VectorMath.scaleInPlace(ob + i * s.dv, s.dv, by: invSum[i])
            }
        }
    }

    /// Backward from the saved logsumexp. Gradient buffers are nil when not needed; dq is written,
    /// dk and dv are overwritten (the caller need not zero them).
    // dOut, out: [heads, Lq, Dv], lse: [heads, Lq] -> dq: [heads, Lq, D], dk: [heads, Lk, D], dv: [heads, Lk, Dv]
    static func backward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                         out: UnsafePointer<Float>, lse: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
                         _ s: AttentionShape, dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?,
                         dv: UnsafeMutablePointer<Float>?) {
        let nb = s.blocksPerHead
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 2 * s.block * s.lk)
        defer { p.deallocate() }
        let dp = p + s.block * s.lk
        for h in 0..<s.heads {
            let kh = k + h * s.lk * s.d, vh = v + h * s.lk * s.dv
            let dkAcc = dk.map { $0 + h * s.lk * s.d }, dvAcc = dv.map { $0 + h * s.lk * s.dv }
            dkAcc?.update(repeating: 0, count: s.lk * s.d)
            dvAcc?.update(repeating: 0, count: s.lk * s.dv)
            for blk in 0..<nb {
                let r0 = blk * s.block, rows = Swift.min(s.block, s.lq - r0)
                let qb = q + (h * s.lq + r0) * s.d
                let dob = dOut + (h * s.lq + r0) * s.dv, ob = out + (h * s.lq + r0) * s.dv
                let lseb = lse + h * s.lq + r0
                // P = exp(scale · Q_blk Kᵀ − lse)
                BLAS.sgemm(transA: false, transB: true, m: rows, n: s.lk, k: s.d, alpha: s.scale, a: qb, lda: s.d,
                           b: kh, ldb: s.d, c: p, ldc: s.lk)
                Parallel.forEachChunk(rows, minChunk: rowsPerChunk) { range in
                    for i in range { VectorMath.expShiftedInPlace(p + i * s.lk, s.lk, shift: lseb[i]) }
                }
                // dV += Pᵀ dO
                if let dvAcc {
                    BLAS.sgemm(transA: true, transB: false, m: s.lk, n: s.dv, k: rows, a: p, lda: s.lk,
                               b: dob, ldb: s.dv, beta: 1, c: dvAcc, ldc: s.dv)
                }
                guard dq != nil || dkAcc != nil else { continue }
                // dP = dO Vᵀ; dS = P ∘ (dP − rowsum(dO ∘ O))
                BLAS.sgemm(transA: false, transB: true, m: rows, n: s.lk, k: s.dv, a: dob, lda: s.dv,
                           b: vh, ldb: s.dv, c: dp, ldc: s.lk)
                Parallel.forEachChunk(rows, minChunk: rowsPerChunk) { range in
                    for i in range {
                        var delta: Float = 0
                        for j in 0..<s.dv { delta += dob[i * s.dv + j] * ob[i * s.dv + j] }
                        let pr = p + i * s.lk, dr = dp + i * s.lk
                        for j in 0..<s.lk { dr[j] = pr[j] * (dr[j] - delta) }
                    }
                }
                // dQ = scale · dS K; dK += scale · dSᵀ Q_blk
                if let dq {
                    BLAS.sgemm(transA: false, transB: false, m: rows, n: s.d, k: s.lk, alpha: s.scale, a: dp,
                               lda: s.lk, b: kh, ldb: s.d, c: dq + (h * s.lq + r0) * s.d, ldc: s.d)
                }
                if let dkAcc {
                    BLAS.sgemm(transA: true, transB: false, m: s.lk, n: s.d, k: rows, alpha: s.scale, a: dp,
                               lda: s.lk, b: qb, ldb: s.d, beta: 1, c: dkAcc, ldc: s.d)
                }
            }
        }
    }
}
