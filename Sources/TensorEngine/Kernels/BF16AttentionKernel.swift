import CMatrixKernels
import CVectorMath
import Foundation

// The forward pass of `AttentionKernel` (FlashAttention-2, Dao 2023, Algorithm 1: tiles of query rows ×
// key columns, online softmax) with its two products as BF16 products with fp32 accumulation
// (`sepme_bf16_gemm`), for gradient-free attention inside a bf16 scope (`PrecisionMode`). Both products
// run transposed, with the queries as the columns:
//
//   Sᵀ   = K_j Q_blkᵀ           left: K_j (packed once per head and key block), right: the query block
//                               (packed per block)
//   Oᵀ (+)= V_jᵀ exp(Sᵀ − m)    left: V_jᵀ (packed once per head and key block), right: the tile's
//                               exponentials (packed per tile)
//
// With the keys down the tile, each query's maximum, exponentials and sum run down a column, sixteen
// queries to a vector (`sepme_exp_columns_short`), a risen maximum rescales a column of Oᵀ in the same way,
// and the exponentials already lie as the value product's right operand wants them (pairs of keys,
// queries side by side: the packing's plain interleave, no transpose). The value width Dv (40-160) as
// the second product's rows wastes less of the 12-row panels than the 32-column panels would.
// Softmax, the rescaling of earlier key blocks and the normalisation stay in fp32; what bf16 rounds is
// q, k, v and the unnormalised probabilities exp(S − m) ≤ 1 (relative error 2⁻⁹ each), which come from
// an exponential shortened to match (attention_columns.c: a few 1e-6 relative error, its sums in fp32).
enum BF16AttentionKernel {
    private static let mr = Int(SEPME_BF16_MR)
    private static let nr = Int(SEPME_BF16_NR)

    /// Where each head's rows of q, k, v and out lie: head-major ([heads, L, width], a head's rows `width`
    /// apart), or token-major, the layout of the projections before their heads are split
    /// ([samples, L, headsPerSample, width]: head h is head h mod headsPerSample of sample h / headsPerSample,
    /// its rows headsPerSample · width apart).
    struct HeadLayout {
        /// 0: head-major.
        let headsPerSample: Int

        static let headMajor = HeadLayout(headsPerSample: 0)

        /// The offset of head h's first row in a tensor of `length` rows of `width` floats per head.
        func offset(head h: Int, length: Int, width: Int) -> Int {
            guard headsPerSample > 0 else { return h * length * width }
            return ((h / headsPerSample) * length * headsPerSample + h % headsPerSample) * width
        }

        /// The distance between a head's consecutive rows.
        func rowStride(width: Int) -> Int { headsPerSample > 0 ? headsPerSample * width : width }
    }

    /// out = softmax(scale · Q Kᵀ) V per head; lse[h, i] = log Σ_j exp(scale · q_i·k_j). The same values
    /// in either layout.
    // q: [heads, Lq, D], k: [heads, Lk, D], v: [heads, Lk, Dv] -> out: [heads, Lq, Dv], lse: [heads, Lq]
    // (token-major: q [B, Lq, H, D], k [B, Lk, H, D], v [B, Lk, H, Dv] -> out [B, Lq, H, Dv], heads = B·H)
    static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        _ s: AttentionShape, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        layout: HeadLayout = .headMajor
    ) {
        let keys = PackedKeys(k: k, v: v, s, layout)
        defer { keys.deallocate() }
        let nb = s.blocksPerHead
        BLASThreading.forEachItem(s.heads * nb) { item in
            let h = item / nb
            let r0 = (item % nb) * s.block
            forwardBlock(
                q: q, keys: keys, s, layout, head: h, row0: r0, rows: Swift.min(s.block, s.lq - r0), out: out, lse: lse)
        }
    }

    /// K_j and V_jᵀ of every head and key block of `s.keyBlock` keys, as left operands ([keys of block j,
    /// D] and [Dv, keys of block j]), packed once for all query blocks.
    private struct PackedKeys {
        let keyBlock: Int
        let keyBlocks: Int
        let kBlocks: UnsafeMutablePointer<UInt16>
        let kPerBlock: Int
        let vT: UnsafeMutablePointer<UInt16>
        let vTPerBlock: Int

        // k: [heads, Lk, D], v: [heads, Lk, Dv] (or token-major, `layout`)
        init(k: UnsafePointer<Float>, v: UnsafePointer<Float>, _ s: AttentionShape, _ layout: HeadLayout) {
            let keyBlock = s.keyBlock
            let keyBlocks = (s.lk + keyBlock - 1) / keyBlock
            // Every block is given a full block's room; the last one may use less.
            let kPerBlock = sepme_bf16_packed_left_count(keyBlock, s.d)
            let vTPerBlock = sepme_bf16_packed_left_count(s.dv, keyBlock)
            let kBlocks = UnsafeMutablePointer<UInt16>.allocate(capacity: Swift.max(1, s.heads * keyBlocks * kPerBlock))
            let vT = UnsafeMutablePointer<UInt16>.allocate(capacity: Swift.max(1, s.heads * keyBlocks * vTPerBlock))
            let valuePanels = (s.dv + mr - 1) / mr
            let kStride = layout.rowStride(width: s.d)
            let vStride = layout.rowStride(width: s.dv)
            BLASThreading.forEachItem(s.heads) { h in
                let kh = k + layout.offset(head: h, length: s.lk, width: s.d)
                let vh = v + layout.offset(head: h, length: s.lk, width: s.dv)
                for b in 0..<keyBlocks {
                    let j0 = b * keyBlock
                    let cols = Swift.min(keyBlock, s.lk - j0)
                    let slot = h * keyBlocks + b
                    // K_j element (l, c) = k[h, j0 + l, c]: row stride D (token-major H·D), depth stride 1.
                    sepme_bf16_pack_left(
                        kBlocks + slot * kPerBlock, kh + j0 * kStride, cols, s.d, kStride, 1, 0, (cols + mr - 1) / mr)
                    // V_jᵀ element (c, l) = v[h, j0 + l, c]: row stride 1, depth stride Dv (token-major H·Dv).
                    sepme_bf16_pack_left(
                        vT + slot * vTPerBlock, vh + j0 * vStride, s.dv, cols, 1, vStride, 0, valuePanels)
                }
            }
            self.keyBlock = keyBlock
            self.keyBlocks = keyBlocks
            self.kBlocks = kBlocks
            self.kPerBlock = kPerBlock
            self.vT = vT
            self.vTPerBlock = vTPerBlock
        }

        /// K_j of head `h`, key block `b`.
        func keys(head h: Int, block b: Int) -> UnsafePointer<UInt16> { UnsafePointer(kBlocks + (h * keyBlocks + b) * kPerBlock) }

        /// V_jᵀ of head `h`, key block `b`.
        func valuesT(head h: Int, block b: Int) -> UnsafePointer<UInt16> { UnsafePointer(vT + (h * keyBlocks + b) * vTPerBlock) }

        func deallocate() {
            kBlocks.deallocate()
            vT.deallocate()
        }
    }

    /// One block of query rows against all key blocks (online softmax down the columns of Sᵀ),
    /// accumulating Oᵀ ([Dv, rows]).
    private static func forwardBlock(
        q: UnsafePointer<Float>, keys: PackedKeys, _ s: AttentionShape, _ layout: HeadLayout, head h: Int, row0 r0: Int,
        rows: Int, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        let kb = keys.keyBlock
        let queryPanels = (rows + nr - 1) / nr
        let valuePanels = (s.dv + mr - 1) / mr
        // Scratch: the score tile Sᵀ, Oᵀ, the row maxima, sums, the tile's maxima and the corrections
        // (fp32); the packed query block and the packed exponentials (bf16).
        let floats = kb * rows + s.dv * rows + 4 * rows
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        defer { scratch.deallocate() }
        let tile = scratch
        let oT = tile + kb * rows
        let rowMax = oT + s.dv * rows
        let rowSum = rowMax + rows
        let tileMax = rowSum + rows
        let correction = tileMax + rows
        let packedQuery = sepme_bf16_packed_right_count(s.d, rows)
        let packedExp = sepme_bf16_packed_right_count(kb, rows)
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: packedQuery + packedExp)
        defer { halves.deallocate() }
        let qPacked = halves
        let pPacked = halves + packedQuery
        // Q_blkᵀ element (c, i) = q[h, r0 + i, c]: depth stride 1, column stride D (token-major H·D).
        let qStride = layout.rowStride(width: s.d)
        let qh = q + layout.offset(head: h, length: s.lq, width: s.d)
        sepme_bf16_pack_right(qPacked, qh + r0 * qStride, s.d, rows, 1, qStride, 0, queryPanels)
        // A positive scale goes into the exponentials (the maxima are those of the unscaled scores); any
        // other scale multiplies the scores first.
        let folded = s.scale > 0 && s.scale.isFinite
        let expScale = folded ? s.scale : 1
        rowSum.initialize(repeating: 0, count: rows)
        for b in 0..<keys.keyBlocks {
            let j0 = b * kb
            let cols = Swift.min(kb, s.lk - j0)
            // Sᵀ = K_j Q_blkᵀ: [cols, rows]
            sepme_bf16_gemm(cols, rows, s.d, keys.keys(head: h, block: b), qPacked, tile, rows, 0, 0, (cols + mr - 1) / mr, 0, queryPanels)
            if !folded { VectorMath.scaleInPlace(tile, cols * rows, by: s.scale) }
            // Online softmax down the columns; a risen maximum rescales the sum and column i of Oᵀ.
            if b == 0 {
                sepme_column_maxima(tile, cols, rows, rows, rowMax)
            } else {
                sepme_column_maxima(tile, cols, rows, rows, tileMax)
                var rose = false
                for i in 0..<rows {
                    let m = Swift.max(rowMax[i], tileMax[i])
                    correction[i] = VectorMath.exp((rowMax[i] - m) * expScale)
                    rose = rose || correction[i] != 1
                    rowSum[i] *= correction[i]
                    rowMax[i] = m
                }
                if rose { sepme_scale_columns(oT, s.dv, rows, rows, correction) }
            }
            // Oᵀ (+)= V_jᵀ exp(Sᵀ − m), the right operand's element (l, i) = exp(tile[l, i] − m_i): the
            // exponentials packed as they are computed, or computed into the tile and packed from it (depth
            // stride rows) where the CPU has no AVX-512 BF16; the same words either way.
            if sepme_exp_columns_bf16(pPacked, tile, cols, rows, rows, rowMax, expScale, rowSum, nr) == 0 {
                sepme_exp_columns_short(tile, cols, rows, rows, rowMax, expScale, rowSum)
                sepme_bf16_pack_right(pPacked, tile, cols, rows, rows, 1, 0, queryPanels)
            }
            sepme_bf16_gemm(s.dv, rows, cols, keys.valuesT(head: h, block: b), pPacked, oT, rows, b == 0 ? 0 : 1, 0, valuePanels, 0, queryPanels)
        }
        // out_blk = O / l, transposed back: [rows, Dv], rows Dv apart (token-major H·Dv)
        let oStride = layout.rowStride(width: s.dv)
        let ob = out + layout.offset(head: h, length: s.lq, width: s.dv) + r0 * oStride
        for i in 0..<rows {
            lse[h * s.lq + r0 + i] = expScale * rowMax[i] + logf(rowSum[i])
            let inverse = 1 / rowSum[i]
            for c in 0..<s.dv { ob[i * oStride + c] = oT[c * rows + i] * inverse }
        }
    }
}
