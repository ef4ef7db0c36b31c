import CMatrixKernels
import Foundation

// The forward pass of `AttentionKernel` (FlashAttention-2, Dao 2023, Algorithm 1: tiles of query rows ×
// key columns, online softmax) with its two products as BF16 products with fp32 accumulation
// (`sepme_bf16_gemm`), for gradient-free attention inside a bf16 scope (`PrecisionMode`):
//
//   S   = Q_blk K_jᵀ        left: the query block (packed per tile), right: Kᵀ (packed once per head)
//   Oᵀ (+)= V_jᵀ exp(S − m)ᵀ  left: V_jᵀ (packed once per head and key block), right: the tile's
//                           exponentials (packed per tile)
//
// The second product is computed transposed: with the value width Dv (40-160) as its rows, the 12-row
// panels of the left operand waste less than the 32-column panels of the right one would, and packing
// the exponentials as a right operand reads them along their rows (pairs of adjacent keys).
// Softmax, the rescaling of earlier key blocks and the normalisation stay in fp32; what bf16 rounds is
// q, k, v and the unnormalised probabilities exp(S − m) ≤ 1 (relative error 2⁻⁹ each).
enum BF16AttentionKernel {
    private static let mr = Int(SEPME_BF16_MR)
    private static let nr = Int(SEPME_BF16_NR)

    /// Key columns per tile: all keys when they fit in `s.keyBlock`, else `s.keyBlock` rounded down to
    /// whole 32-column panels of the packed Kᵀ (at least one panel), so that each key block starts a panel.
    static func keyBlock(_ s: AttentionShape) -> Int {
        s.lk <= s.keyBlock ? s.lk : Swift.max(nr, s.keyBlock / nr * nr)
    }

    /// out = softmax(scale · Q Kᵀ) V per head; lse[h, i] = log Σ_j exp(scale · q_i·k_j).
    // q: [heads, Lq, D], k: [heads, Lk, D], v: [heads, Lk, Dv] -> out: [heads, Lq, Dv], lse: [heads, Lq]
    static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        _ s: AttentionShape, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        let keys = PackedKeys(k: k, v: v, s, keyBlock: keyBlock(s))
        defer { keys.deallocate() }
        let nb = s.blocksPerHead
        BLASThreading.forEachItem(s.heads * nb) { item in
            let h = item / nb
            let r0 = (item % nb) * s.block
            forwardBlock(q: q, keys: keys, s, head: h, row0: r0, rows: Swift.min(s.block, s.lq - r0), out: out, lse: lse)
        }
    }

    /// Kᵀ as right operands ([D, Lk] per head, 32 keys per panel) and V_jᵀ as left operands ([Dv, keys of
    /// block j] per head and key block), packed once for all query blocks.
    private struct PackedKeys {
        let keyBlock: Int
        let keyBlocks: Int
        let kT: UnsafeMutablePointer<UInt16>
        let kTPerHead: Int
        let vT: UnsafeMutablePointer<UInt16>
        let vTPerHead: Int
        /// uint16 values of one full key block's V_jᵀ.
        let vTPerBlock: Int
        let d: Int

        // k: [heads, Lk, D], v: [heads, Lk, Dv]
        init(k: UnsafePointer<Float>, v: UnsafePointer<Float>, _ s: AttentionShape, keyBlock: Int) {
            self.keyBlock = keyBlock
            d = s.d
            keyBlocks = (s.lk + keyBlock - 1) / keyBlock
            kTPerHead = sepme_bf16_packed_right_count(s.d, s.lk)
            vTPerBlock = sepme_bf16_packed_left_count(s.dv, keyBlock)
            let last = s.lk - (keyBlocks - 1) * keyBlock
            vTPerHead = (keyBlocks - 1) * vTPerBlock + sepme_bf16_packed_left_count(s.dv, last)
            let kT = UnsafeMutablePointer<UInt16>.allocate(capacity: Swift.max(1, s.heads * kTPerHead))
            let vT = UnsafeMutablePointer<UInt16>.allocate(capacity: Swift.max(1, s.heads * vTPerHead))
            let (kTPerHead, vTPerHead, vTPerBlock, keyBlocks) = (kTPerHead, vTPerHead, vTPerBlock, keyBlocks)
            let keyPanels = (s.lk + nr - 1) / nr
            let valuePanels = (s.dv + mr - 1) / mr
            BLASThreading.forEachItem(s.heads) { h in
                // Kᵀ element (l, j) = k[h, j, l]: depth stride 1, column stride D.
                sepme_bf16_pack_right(kT + h * kTPerHead, k + h * s.lk * s.d, s.d, s.lk, 1, s.d, 0, keyPanels)
                for b in 0..<keyBlocks {
                    let j0 = b * keyBlock
                    let cols = Swift.min(keyBlock, s.lk - j0)
                    // V_jᵀ element (i, l) = v[h, j0 + l, i]: row stride 1, depth stride Dv.
                    sepme_bf16_pack_left(
                        vT + h * vTPerHead + b * vTPerBlock, v + (h * s.lk + j0) * s.dv, s.dv, cols, 1, s.dv, 0,
                        valuePanels)
                }
            }
            self.kT = kT
            self.vT = vT
        }

        /// Kᵀ's columns from key `j0` (a multiple of 32) of head `h`.
        func keysT(head h: Int, from j0: Int) -> UnsafePointer<UInt16> {
            UnsafePointer(kT + h * kTPerHead + (j0 / nr) * sepme_bf16_packed_right_count(d, nr))
        }

        /// V_jᵀ of head `h`, key block `b`.
        func valuesT(head h: Int, block b: Int) -> UnsafePointer<UInt16> { UnsafePointer(vT + h * vTPerHead + b * vTPerBlock) }

        func deallocate() {
            kT.deallocate()
            vT.deallocate()
        }
    }

    /// One block of query rows against all key blocks (online softmax), accumulating Oᵀ ([Dv, rows]).
    private static func forwardBlock(
        q: UnsafePointer<Float>, keys: PackedKeys, _ s: AttentionShape, head h: Int, row0 r0: Int, rows: Int,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        let kb = keys.keyBlock
        let rowPanels = (rows + mr - 1) / mr
        let queryPanels = (rows + nr - 1) / nr
        let valuePanels = (s.dv + mr - 1) / mr
        // Scratch: the score tile, Oᵀ, the row maxima and sums (fp32); the packed query block and the
        // packed exponentials (bf16).
        let floats = rows * kb + s.dv * rows + 2 * rows
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        defer { scratch.deallocate() }
        let tile = scratch
        let oT = tile + rows * kb
        let rowMax = oT + s.dv * rows
        let rowSum = rowMax + rows
        let packedQuery = sepme_bf16_packed_left_count(rows, s.d)
        let packedExp = sepme_bf16_packed_right_count(kb, rows)
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: packedQuery + packedExp)
        defer { halves.deallocate() }
        let qPacked = halves
        let pPacked = halves + packedQuery
        sepme_bf16_pack_left(qPacked, q + (h * s.lq + r0) * s.d, rows, s.d, s.d, 1, 0, rowPanels)
        // A positive scale goes into the exponentials (the row maxima are those of the unscaled scores);
        // any other scale multiplies the scores first.
        let folded = s.scale > 0 && s.scale.isFinite
        for b in 0..<keys.keyBlocks {
            let j0 = b * kb
            let cols = Swift.min(kb, s.lk - j0)
            // S = Q_blk K_jᵀ: [rows, cols]
            sepme_bf16_gemm(rows, cols, s.d, qPacked, keys.keysT(head: h, from: j0), tile, cols, 0, 0, rowPanels, 0, (cols + nr - 1) / nr)
            if !folded { VectorMath.scaleInPlace(tile, rows * cols, by: s.scale) }
            // Online softmax of scale · S; a risen maximum rescales column i of Oᵀ.
            AttentionKernel.softmaxTile(
                tile, rows: rows, cols: cols, first: b == 0, rowMax: rowMax, rowSum: rowSum, scale: folded ? s.scale : 1
            ) { i, correction in
                for c in 0..<s.dv { oT[c * rows + i] *= correction }
            }
            // Oᵀ (+)= V_jᵀ exp(S − m)ᵀ; exp(S − m)ᵀ element (l, i) = tile[i, l]: depth stride 1, column stride cols.
            sepme_bf16_pack_right(pPacked, tile, cols, rows, 1, cols, 0, queryPanels)
            sepme_bf16_gemm(s.dv, rows, cols, keys.valuesT(head: h, block: b), pPacked, oT, rows, b == 0 ? 0 : 1, 0, valuePanels, 0, queryPanels)
        }
        // out_blk = O / l, transposed back: [rows, Dv]
        let ob = out + (h * s.lq + r0) * s.dv
        for i in 0..<rows {
            lse[h * s.lq + r0 + i] = (folded ? s.scale * rowMax[i] : rowMax[i]) + logf(rowSum[i])
            let inverse = 1 / rowSum[i]
            for c in 0..<s.dv { ob[i * s.dv + c] = oT[c * rows + i] * inverse }
        }
    }
}
