import Foundation

// Scaled dot-product attention (torch.nn.functional.scaled_dot_product_attention without mask,
// dropout or causal flag), fused: see Kernels/AttentionKernel.swift.

extension Tensor {
    /// Default query rows per tile of the fused attention kernel: a score tile of about 2^14 floats
    /// (64 KiB) with `attentionKeyBlock` key columns, but at least `minimumQueryBlock` rows, and at
    /// most Lq; 212 rows for cross-attention (Lk = 77), 128 rows (a 256 KiB tile, still in the
    /// per-core L2) at Lk ≥ 512, where taller tiles pay each key block's packing over more rows. The
    /// sizes were chosen with `sepme bench attention --query-block` (docs/benchmarks.md). Each row's
    /// sums do not depend on the tile's height, so neither does the result.
    public static func attentionQueryBlock(queryLength lq: Int, keyLength lk: Int) -> Int {
        let keys = attentionKeyBlock(keyLength: lk)
        return Swift.max(1, Swift.min(lq, Swift.max(minimumQueryBlock, tileScores / keys)))
    }

    /// The fewest query rows of a default forward tile.
    static let minimumQueryBlock = 128

    /// Key columns per tile of the fused attention kernel: all keys up to 512, else 512.
    static func attentionKeyBlock(keyLength lk: Int) -> Int {
        Swift.max(1, Swift.min(lk, tileKeys))
    }

    /// Default backward tile: up to 128 keys × about 2^14 / keys rows (128 at Lk ≥ 128).
    static func attentionBackwardTile(queryLength lq: Int, keyLength lk: Int) -> (rows: Int, keys: Int) {
        let keys = Swift.max(1, Swift.min(lk, backwardTileKeys))
        return (Swift.max(1, Swift.min(lq, Swift.max(32, tileScores / keys))), keys)
    }

    /// Whether a recorded forward keeps the probabilities P for the backward pass: all keys in one
    /// forward tile, and at most `keptProbabilityKeys` of them.
    static func keepsProbabilities(_ s: AttentionShape) -> Bool { s.lk <= s.keyBlock && s.lk <= keptProbabilityKeys }
    static let keptProbabilityKeys = 128

    // Tile sizes; SEPME_ATTN_TILE="scores,keys,backwardKeys" overrides them (tuning only).
    private static let tileOverride: [Int]? = ProcessInfo.processInfo.environment["SEPME_ATTN_TILE"]
        .map { $0.split(separator: ",").compactMap { Int($0) } }
    private static var tileScores: Int { tileOverride?.first ?? (1 << 14) }
    private static var tileKeys: Int { tileOverride.flatMap { $0.count > 1 ? $0[1] : nil } ?? 512 }
    private static var backwardTileKeys: Int { tileOverride.flatMap { $0.count > 2 ? $0[2] : nil } ?? 128 }

    /// Runs `body` with the fused attention rows for short key sequences and fused key tiles for longer
    /// ones allowed or not (`AttentionKernel.usesFusedRows`, `usesFusedTiles`; the same bits either
    /// way): `bench attention` times both.
    public static func withFusedAttentionRows<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        try AttentionKernel.withFusedRows(enabled, body)
    }

    /// softmax(q kᵀ · scale) v with scale = 1/√D by default, computed tile by tile (blocks of query
    /// rows × blocks of keys, online softmax) so the [Lq, Lk] attention matrix never exists in full; only the per-row logsumexp is kept for
    /// the backward pass, which recomputes the probabilities. Leading dimensions are batch
    /// dimensions and must agree across q, k, v ([B, H, L, D] or [B·H, L, D]).
    /// `queryBlock` (query rows per block, default `attentionQueryBlock(queryLength:keyLength:)`)
    /// only affects speed and memory, not the result.
    // q: [..., Lq, D], k: [..., Lk, D], v: [..., Lk, Dv] -> [..., Lq, Dv]
    public static func scaledDotProductAttention(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil,
        queryBlock: Int? = nil
    ) -> Tensor {
        scaledDotProductAttention(q, k, v, scale: scale, queryBlock: queryBlock, keyBlock: nil)
    }

    /// The same with an explicit number of key columns per tile (default
    /// `attentionKeyBlock(keyLength:)`); internal, for tests of the online softmax.
    // q: [..., Lq, D], k: [..., Lk, D], v: [..., Lk, Dv] -> [..., Lq, Dv]
    static func scaledDotProductAttention(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float?,
        queryBlock: Int?, keyBlock: Int?
    ) -> Tensor {
        precondition(
            q.rank >= 2 && k.rank == q.rank && v.rank == q.rank,
            "scaledDotProductAttention: q, k, v must share a rank >= 2, got \(q.shape), \(k.shape), \(v.shape)")
        let batchDims = Array(q.shape.dropLast(2))
        precondition(
            Array(k.shape.dropLast(2)) == batchDims && Array(v.shape.dropLast(2)) == batchDims,
            "scaledDotProductAttention: batch dimensions differ: q \(q.shape), k \(k.shape), v \(v.shape)")
        let lq = q.dim(-2)
        let d = q.dim(-1)
        let lk = k.dim(-2)
        let dv = v.dim(-1)
        precondition(k.dim(-1) == d, "scaledDotProductAttention: key width \(k.dim(-1)) != query width \(d)")
        precondition(v.dim(-2) == lk, "scaledDotProductAttention: value length \(v.dim(-2)) != key length \(lk)")
        precondition(lk > 0, "scaledDotProductAttention: empty key sequence in \(k.shape)")
        let shape = attentionShape(
            heads: batchDims.reduce(1, *), lq: lq, lk: lk, d: d, dv: dv, scale: scale, queryBlock: queryBlock,
            keyBlock: keyBlock)
        let out = Tensor(uninitialized: batchDims + [lq, dv])
        let lse = Tensor(uninitialized: batchDims + [lq])
        FlopTally.add(multiplyAdds: shape.forwardMultiplyAdds)
        // Short key sequences (cross-attention: Lk = 77 text tokens) keep P for the backward pass when a
        // graph is recorded: at most `keptProbabilityKeys / Dv` times the output's memory, and the
        // backward skips recomputing Q Kᵀ and its exponentials (a fifth of its GEMMs).
        let recording = GradMode.isEnabled && (q.needsGrad || k.needsGrad || v.needsGrad)
        let probabilities = recording && keepsProbabilities(shape) ? Tensor(uninitialized: batchDims + [lq, lk]) : nil
        if PrecisionMode.bf16Cache(inputs: [q, k, v], headWidth: d, valueWidth: dv) != nil {
            // Gradient-free inside a bf16 scope: both products in bf16 (nothing is recorded below).
            BF16AttentionKernel.forward(q: q.pointer, k: k.pointer, v: v.pointer, shape, out: out.pointer, lse: lse.pointer)
        } else {
            AttentionKernel.forward(
                q: q.pointer, k: k.pointer, v: v.pointer, shape, out: out.pointer, lse: lse.pointer,
                probabilities: probabilities?.pointer)
        }
        // The backward rule reads `out` (for rowsum(dO ∘ O)) through its storage, not the tensor
        // object, so the output does not keep itself alive through its own node.
        let outValues = out.storage
        return record("scaled_dot_product_attention", inputs: [q, k, v], output: out) { g, needs in
            // The products the gradients need, as torch.utils.flop_counter counts them: dV = Pᵀ dO, dP = dO Vᵀ
            // (for dQ or dK), dQ = dS K, dK = dSᵀ Q; the kernel's recomputation of P is not counted.
            let scoresNeeded = needs[0] || needs[1]
            FlopTally.add(
                multiplyAdds: shape.heads * lq * lk
                    * ((needs[2] ? dv : 0) + (scoresNeeded ? dv : 0) + (needs[0] ? d : 0) + (needs[1] ? d : 0)))
            let dq = needs[0] ? Tensor(uninitialized: q.shape) : nil
            let dk = needs[1] ? Tensor(uninitialized: k.shape) : nil
            let dvT = needs[2] ? Tensor(uninitialized: v.shape) : nil
            AttentionKernel.backward(
                q: q.pointer, k: k.pointer, v: v.pointer, out: outValues.pointer,
                lse: lse.pointer, probabilities: probabilities?.pointer, dOut: g.pointer, shape,
                dq: dq?.pointer, dk: dk?.pointer, dv: dvT?.pointer)
            return [dq, dk, dvT]
        }
    }

    /// The tiles of an attention of `heads` heads: `queryBlock` and `keyBlock` as given, or the defaults
    /// for these lengths; the default backward tile is taller (see AttentionShape).
    private static func attentionShape(
        heads: Int, lq: Int, lk: Int, d: Int, dv: Int, scale: Float?, queryBlock: Int?, keyBlock: Int?
    ) -> AttentionShape {
        let block = queryBlock ?? attentionQueryBlock(queryLength: lq, keyLength: lk)
        precondition(block >= 1, "scaledDotProductAttention: queryBlock must be >= 1, got \(block)")
        let keys = keyBlock ?? attentionKeyBlock(keyLength: lk)
        precondition(keys >= 1, "scaledDotProductAttention: keyBlock must be >= 1, got \(keys)")
        // Explicit tiles apply to both passes.
        let backwardTile =
            queryBlock == nil && keyBlock == nil
            ? attentionBackwardTile(queryLength: lq, keyLength: lk)
            : (rows: Swift.max(1, Swift.min(block, lq)), keys: Swift.min(keys, lk))
        return AttentionShape(
            heads: heads, lq: lq, lk: lk, d: d, dv: dv, scale: scale ?? 1 / Float(d).squareRoot(),
            block: Swift.max(1, Swift.min(block, lq)), keyBlock: Swift.min(keys, lk),
            backwardBlock: backwardTile.rows, backwardKeyBlock: backwardTile.keys)
    }

    /// Multi-head attention on token-major projections, as diffusers' `Attention` with `AttnProcessor2_0`
    /// runs it (attention_processor.py): q, k, v split into `heads` heads, `scaledDotProductAttention`
    /// per head (scale 1/√D), the heads merged back. Inside a bf16 scope with no gradient recorded the
    /// bf16 kernel reads and writes each head where it lies in these layouts, without the split and merge
    /// copies (the same values); elsewhere the heads are permuted out and back.
    // q: [B, Lq, H·D], k: [B, Lk, H·D], v: [B, Lk, H·Dv] -> [B, Lq, H·Dv]
    public static func multiHeadAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int) -> Tensor {
        precondition(
            heads >= 1 && q.rank == 3 && k.rank == 3 && v.rank == 3 && q.dim(-1) % heads == 0
                && v.dim(-1) % heads == 0,
            "multiHeadAttention: \(heads) heads of q \(q.shape), k \(k.shape), v \(v.shape)")
        let (b, lq, lk) = (q.shape[0], q.shape[1], k.shape[1])
        let (d, dv) = (q.dim(-1) / heads, v.dim(-1) / heads)
        func split(_ t: Tensor, _ width: Int) -> Tensor {  // [B, L, H·W] -> [B, H, L, W]
            t.reshaped([t.shape[0], t.shape[1], heads, width]).permuted([0, 2, 1, 3])
        }
        let inPlace =
            k.shape == [b, lk, heads * d] && v.shape == [b, lk, heads * dv] && lk > 0
            && PrecisionMode.bf16Cache(inputs: [q, k, v], headWidth: d, valueWidth: dv) != nil
        guard inPlace else {
            let attended = scaledDotProductAttention(split(q, d), split(k, d), split(v, dv))  // [B, H, Lq, Dv]
            return attended.permuted([0, 2, 1, 3]).reshaped([b, lq, heads * dv])
        }
        let shape = attentionShape(
            heads: b * heads, lq: lq, lk: lk, d: d, dv: dv, scale: nil, queryBlock: nil, keyBlock: nil)
        let out = Tensor(uninitialized: [b, lq, heads * dv])
        let lse = Tensor(uninitialized: [b * heads * lq])
        FlopTally.add(multiplyAdds: shape.forwardMultiplyAdds)
        BF16AttentionKernel.forward(
            q: q.pointer, k: k.pointer, v: v.pointer, shape, out: out.pointer, lse: lse.pointer,
            layout: BF16AttentionKernel.HeadLayout(headsPerSample: heads))
        return out
    }
}
