@testable import TensorEngine
import TestSupport
import XCTest

/// Fused scaled-dot-product attention against torch.nn.functional.scaled_dot_product_attention
/// fixtures, against a naive composition of Tensor ops, and against central differences.
final class AttentionTests: XCTestCase {
    /// softmax(q kᵀ · scale) v from matmul, exp, sum and division (every [Lq, Lk] entry materialised).
    private func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil) -> Tensor {
        let s = Tensor.matmul(q, k.mT) * (scale ?? 1 / Float(q.dim(-1)).squareRoot())
        let e = s.exp()
        return Tensor.matmul(e / e.sum(axes: [-1], keepDims: true), v)
    }

    /// Forward parity with torch, max abs error <= 1e-5 · max |reference|, for the default block and
    /// for 16-row blocks (several blocks per head, a ragged last block).
    func testForwardMatchesTorch() throws {
        let cases = try KernelFixtures().cases(op: "sdpa")
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            let scale = (c.entry["scale"] as? Double).map { Float($0) }
            for block: Int? in [nil, 16] {
                let y = Tensor.scaledDotProductAttention(
                    try c.tensor("q"), try c.tensor("k"), try c.tensor("v"),
                    scale: scale, queryBlock: block)
                assertClose(y, try c.tensor("out"), rtol: 1e-5, "\(c.name) block \(block.map(String.init) ?? "default")")
            }
            // Key tiles of 7 columns: several online-softmax rescalings and a ragged last tile.
            let y = Tensor.scaledDotProductAttention(
                try c.tensor("q"), try c.tensor("k"), try c.tensor("v"),
                scale: scale, queryBlock: 16, keyBlock: 7)
            assertClose(y, try c.tensor("out"), rtol: 1e-5, "\(c.name) key blocks of 7")
        }
    }

    /// A row's scores, exponentials and weighted values are summed in the same order however many
    /// rows share its tile: the output is the same to the bit for every query block (fp32, and bf16
    /// inside a bf16 scope), so the default block can be tuned for speed alone.
    func testQueryBlockDoesNotChangeTheResult() {
        var rng = TestRNG(seed: 9)
        let q = rng.tensor([2, 2, 300, 40], -2, 2)
        let k = rng.tensor([2, 2, 600, 40], -2, 2)
        let v = rng.tensor([2, 2, 600, 40])
        for bf16 in [false, true] {
            func attention(_ block: Int?) -> [UInt32] {
                let run = { Tensor.scaledDotProductAttention(q, k, v, scale: nil, queryBlock: block, keyBlock: 512) }
                // bf16 kernels whether or not they pay on this CPU (`BF16Payoff`).
                let y = BF16Payoff.withAssumedVerdict(true) {
                    GradMode.withNoGrad { PrecisionMode.with(bf16 ? .bf16 : .fp32) { run() } }
                }
                return y.scalars.map(\.bitPattern)
            }
            let reference = attention(32)
            for block: Int? in [nil, 12, 96, 128, 300] {
                XCTAssertEqual(attention(block), reference, "bf16 \(bf16), query block \(block.map(String.init) ?? "default")")
            }
        }
    }

    /// The fused rows for short key sequences (`sepme_attention_rows`: cross-attention to text tokens)
    /// give the general path's bits: outputs, the probabilities a recorded forward keeps, and the
    /// gradients computed from them, over ragged row groups, key counts around the 16-lane vectors,
    /// head widths of SD's three levels and value widths past one chunk of six vectors. The general
    /// path runs wherever the products are not sepme's AVX-512F ones (an AVX2-only CPU).
    func testFusedRowsForShortKeysGiveTheGeneralPathsBits() throws {
        guard SGEMMKernel.bestPath == .avx512, AttentionKernel.fusedRowsAvailable else {
            throw XCTSkip("the fused rows need AVX-512F")
        }
        var rng = TestRNG(seed: 41)
        // (Query block nil: the default tiles, 212 rows forward and backward at 77 keys.)
        let cases: [(lq: Int, lk: Int, d: Int, dv: Int, scale: Float?, block: Int?)] = [
            (37, 1, 8, 8, nil, 64), (50, 15, 40, 40, nil, 64), (50, 16, 40, 3, 1, 64), (77, 17, 33, 40, nil, 64),
            (130, 77, 40, 40, nil, 64), (30, 77, 80, 80, 0.5, 64), (9, 77, 160, 160, nil, 64), (20, 128, 64, 100, nil, 64),
            (13, 113, 40, 97, 2, 64), (500, 77, 40, 40, nil, nil)
        ]
        for c in cases {
            let q = rng.tensor([2, c.lq, c.d], -3, 3)
            let k = rng.tensor([2, c.lk, c.d], -3, 3)
            let v = rng.tensor([2, c.lk, c.dv])
            let dy = rng.tensor([2, c.lq, c.dv])
            let shape = AttentionShape(
                heads: 2, lq: c.lq, lk: c.lk, d: c.d, dv: c.dv, scale: 1, block: 64, keyBlock: c.lk, backwardBlock: 64,
                backwardKeyBlock: c.lk)
            assertFusedGiveTheGeneralPathsBits(q, k, v, dy, scale: c.scale, queryBlock: c.block, keyBlock: nil, "\(c)") {
                fused, limit in XCTAssertEqual(AttentionKernel.usesFusedRows(shape), fused && limit == .avx512)
            }
        }
    }

    /// The fused key tiles for longer key sequences (`sepme_attention_tiles`: self-attention) give the
    /// general path's bits: outputs, and the gradients the backward computes from their log-sum-exp,
    /// over ragged row groups (eight rows), ragged key tiles and value slices (a tile of 300 keys is two
    /// SGEMM slices of 150), key counts past the last 16-key panel, head widths of SD's three levels and
    /// of SD 2.x / SDXL, value widths around the three-vector passes, and scales. The general path runs
    /// wherever the products are not sepme's AVX-512F ones.
    func testFusedTilesForLongKeysGiveTheGeneralPathsBits() throws {
        guard SGEMMKernel.bestPath == .avx512, AttentionKernel.fusedRowsAvailable else {
            throw XCTSkip("the fused tiles need AVX-512F")
        }
        var rng = TestRNG(seed: 43)
        let cases: [(lq: Int, lk: Int, d: Int, dv: Int, scale: Float?, keyBlock: Int?)] = [
            (37, 129, 40, 40, nil, 64), (50, 300, 40, 40, nil, nil), (19, 700, 40, 40, nil, nil), (70, 200, 80, 80, 0.5, 37),
            (9, 260, 160, 160, nil, nil), (21, 513, 33, 97, 2, nil), (8, 150, 64, 16, nil, 150), (3, 1024, 8, 47, nil, nil),
            (12, 600, 64, 64, nil, nil)
        ]
        for c in cases {
            let q = rng.tensor([2, c.lq, c.d], -3, 3)
            let k = rng.tensor([2, c.lk, c.d], -3, 3)
            let v = rng.tensor([2, c.lk, c.dv])
            let dy = rng.tensor([2, c.lq, c.dv])
            let keys = c.keyBlock ?? Tensor.attentionKeyBlock(keyLength: c.lk)
            let shape = AttentionShape(
                heads: 2, lq: c.lq, lk: c.lk, d: c.d, dv: c.dv, scale: 1, block: 64, keyBlock: keys, backwardBlock: 64,
                backwardKeyBlock: keys)
            // Tiles of 37 keys start mid-panel: the general path.
            let panelled = keys % 16 == 0 || keys >= c.lk
            assertFusedGiveTheGeneralPathsBits(q, k, v, dy, scale: c.scale, queryBlock: nil, keyBlock: c.keyBlock, "\(c)") {
                fused, limit in
                XCTAssertFalse(AttentionKernel.usesFusedRows(shape))
                XCTAssertEqual(AttentionKernel.usesFusedTiles(shape), fused && limit == .avx512 && panelled)
            }
        }
    }

    /// Attention forward and backward on copies of q, k, v with the fused rows and tiles on and off: the
    /// outputs and the three gradients the same to the bit, and within rounding of the summation order
    /// where the AVX2 products run (sepme's thin kernels, OpenBLAS for the rest: the general path).
    /// `check` runs inside each setting (fused, product path).
    private func assertFusedGiveTheGeneralPathsBits(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, _ dy: Tensor, scale: Float?, queryBlock: Int?, keyBlock: Int?,
        _ label: String, check: (Bool, SGEMMKernel.Path) -> Void
    ) {
        func run(fused: Bool, limit: SGEMMKernel.Path = .avx512) -> [[UInt32]] {
            SGEMMKernel.withPathLimit(limit) {
                AttentionKernel.withFusedRows(fused) {
                    check(fused, limit)
                    let inputs = [q, k, v].map { t -> Tensor in
                        let copy = Tensor(t.scalars, shape: t.shape)
                        copy.requiresGrad = true
                        return copy
                    }
                    let y = Tensor.scaledDotProductAttention(
                        inputs[0], inputs[1], inputs[2], scale: scale, queryBlock: queryBlock, keyBlock: keyBlock)
                    y.backward(gradient: dy)
                    return [y.scalars.map(\.bitPattern)] + inputs.map { ($0.grad?.scalars ?? []).map(\.bitPattern) }
                }
            }
        }
        let general = run(fused: false)
        let fused = run(fused: true)
        for (name, (a, b)) in zip(["out", "dq", "dk", "dv"], zip(fused, general)) {
            XCTAssertEqual(a.count, b.count, "\(label) \(name)")
            XCTAssertEqual(zip(a, b).filter { $0 != $1 }.count, 0, "\(label) \(name): elements that differ")
        }
        let avx2 = run(fused: true, limit: .avx2)
        for (name, (a, b)) in zip(["out", "dq", "dk", "dv"], zip(avx2, general)) {
            let worst = zip(a, b).map { abs(Float(bitPattern: $0) - Float(bitPattern: $1)) }.max() ?? 0
            let magnitude = b.map { abs(Float(bitPattern: $0)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5 * max(magnitude, 1e-30), "\(label) \(name), AVX2 products")
        }
    }

    /// Rank-3 [B·H, L, D] inputs give the same result as [B, H, L, D].
    func testRank3MatchesRank4() throws {
        let c = try XCTUnwrap(KernelFixtures().cases(op: "sdpa").first { $0.name == "sdpa_small" })
        let q = try c.tensor("q")
        let k = try c.tensor("k")
        let v = try c.tensor("v")
        let y = Tensor.scaledDotProductAttention(q.reshaped([6, 37, 8]), k.reshaped([6, 29, 8]), v.reshaped([6, 29, 8]))
        assertClose(y.reshaped([2, 3, 37, 8]), try c.tensor("out"), rtol: 1e-5, "rank 3")
    }

    /// Forward and all three gradients equal the naive composition (relative 1e-5 forward,
    /// 1e-4 gradients: different summation orders), with one block and with 8-row blocks.
    func testMatchesNaiveComposition() {
        var rng = TestRNG(seed: 5)
        let q = rng.tensor([2, 3, 37, 8], -2, 2)
        let k = rng.tensor([2, 3, 29, 8], -2, 2)
        let v = rng.tensor([2, 3, 29, 8])
        let proj = rng.tensor([2, 3, 37, 8])
        assertMatchesNaiveComposition(
            q, k, v, projection: proj,
            tilings: [nil, 8].map { block in
                ("block \(String(describing: block))", { Tensor.scaledDotProductAttention(q, k, v, queryBlock: block) })
            })
    }

    /// Each tiling's forward (relative 1e-5) and its three gradients through Σ(y ∘ projection)
    /// (relative 1e-4) against the naive composition's.
    private func assertMatchesNaiveComposition(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, projection proj: Tensor, tilings: [(String, () -> Tensor)],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        for t in [q, k, v] { t.requiresGrad = true }
        naiveAttention(q, k, v).mul(proj).sum().backward()
        let ref = GradMode.withNoGrad { naiveAttention(q, k, v) }
        let refGrads = [q.grad!, k.grad!, v.grad!]
        for (label, attention) in tilings {
            for t in [q, k, v] { t.grad = nil }
            let y = attention()
            assertClose(y, ref, rtol: 1e-5, "forward, \(label)", file: file, line: line)
            y.mul(proj).sum().backward()
            for (i, t) in [q, k, v].enumerated() {
                assertClose(t.grad!, refGrads[i], rtol: 1e-4, "gradient of input \(i), \(label)", file: file, line: line)
            }
        }
    }

    /// Central differences (eps 1e-2, tolerance 1e-2 relative to the largest numeric gradient; the
    /// O(eps²) truncation error of the smooth softmax stays well below that).
    func testGradientsSingleBlock() {
        var rng = TestRNG(seed: 17)
        let q = rng.tensor([2, 3, 37, 8])
        let k = rng.tensor([2, 3, 29, 8])
        let v = rng.tensor([2, 3, 29, 8])
        checkGradients("sdpa B2 H3 Lq37 Lk29 D8", inputs: [q, k, v], eps: 1e-2, tolerance: 1e-2, maxChecksPerInput: 40) { t in
            Tensor.scaledDotProductAttention(t[0], t[1], t[2])
        }
    }

    /// Lq 37 over 8-row blocks (5 blocks, the last one ragged), explicit scale.
    func testGradientsMultipleBlocks() {
        var rng = TestRNG(seed: 18)
        let q = rng.tensor([2, 3, 37, 8])
        let k = rng.tensor([2, 3, 29, 8])
        let v = rng.tensor([2, 3, 29, 8])
        checkGradients("sdpa blocks of 8", inputs: [q, k, v], eps: 1e-2, tolerance: 1e-2, maxChecksPerInput: 40) { t in
            Tensor.scaledDotProductAttention(t[0], t[1], t[2], scale: 0.45, queryBlock: 8)
        }
    }

    /// One head, rank-3 input, many 4-row blocks accumulating into one dK/dV, value width != key width.
    func testGradientsOneHeadManyBlocks() {
        var rng = TestRNG(seed: 19)
        let q = rng.tensor([1, 45, 8])
        let k = rng.tensor([1, 13, 8])
        let v = rng.tensor([1, 13, 5])
        checkGradients("sdpa one head, blocks of 4", inputs: [q, k, v], eps: 1e-2, tolerance: 1e-2) { t in
            Tensor.scaledDotProductAttention(t[0], t[1], t[2], queryBlock: 4)
        }
    }

    /// Only q needs a gradient (frozen keys/values, e.g. cross-attention to fixed text states):
    /// k and v get none and q's gradient is unchanged.
    func testOnlyRequestedGradients() {
        var rng = TestRNG(seed: 23)
        let q = rng.tensor([1, 2, 40, 8], requiresGrad: true)
        let k = rng.tensor([1, 2, 11, 8])
        let v = rng.tensor([1, 2, 11, 8])
        let proj = rng.tensor([1, 2, 40, 8])
        Tensor.scaledDotProductAttention(q, k, v, queryBlock: 16).mul(proj).sum().backward()
        XCTAssertNil(k.grad)
        XCTAssertNil(v.grad)
        let onlyQ = q.grad!
        q.grad = nil
        k.requiresGrad = true
        v.requiresGrad = true
        Tensor.scaledDotProductAttention(q, k, v, queryBlock: 16).mul(proj).sum().backward()
        assertClose(onlyQ, q.grad!, rtol: 1e-6, "dq alone vs with dk, dv")
    }

    /// Key tiles of 1, 5, 10 (ragged), 29 (all keys) and 64 (more than Lk) columns against the naive
    /// composition, forward and all three gradients, with 8-row query blocks. Keys are scaled so
    /// the row maxima move between tiles (exercises the e^(m_old − m_new) rescaling).
    func testKeyBlocksMatchNaiveComposition() {
        var rng = TestRNG(seed: 29)
        let q = rng.tensor([2, 3, 37, 8], -2, 2)
        let k = rng.tensor([2, 3, 29, 8], -3, 3)
        let v = rng.tensor([2, 3, 29, 6])
        let proj = rng.tensor([2, 3, 37, 6])
        assertMatchesNaiveComposition(
            q, k, v, projection: proj,
            tilings: [1, 5, 10, 29, 64].map { (keyBlock: Int) in
                ("key blocks of \(keyBlock)", { Tensor.scaledDotProductAttention(q, k, v, scale: nil, queryBlock: 8, keyBlock: keyBlock) })
            })
    }

    /// Central differences through 4-row query tiles × 5-column key tiles (Lq 45, Lk 13: both last
    /// tiles ragged), one head, value width != key width.
    func testGradientsKeyBlocks() {
        var rng = TestRNG(seed: 31)
        let q = rng.tensor([1, 45, 8])
        let k = rng.tensor([1, 13, 8])
        let v = rng.tensor([1, 13, 5])
        checkGradients("sdpa key blocks of 5", inputs: [q, k, v], eps: 1e-2, tolerance: 1e-2) { t in
            Tensor.scaledDotProductAttention(t[0], t[1], t[2], scale: nil, queryBlock: 4, keyBlock: 5)
        }
    }

    /// Which backward a shape gets: P kept from the forward for short key sequences in one tile
    /// (cross-attention), recomputed from the logsumexp otherwise. The gradient tests above run
    /// both (Lk 29 and 13 in one tile; key tiles of 1-10 columns; Lk 600).
    func testShortKeySequencesKeepProbabilities() {
        func shape(lk: Int, keyBlock: Int) -> AttentionShape {
            AttentionShape(
                heads: 1, lq: 64, lk: lk, d: 8, dv: 8, scale: 1, block: 16, keyBlock: keyBlock,
                backwardBlock: 16, backwardKeyBlock: min(lk, 128))
        }
        XCTAssertTrue(Tensor.keepsProbabilities(shape(lk: 77, keyBlock: Tensor.attentionKeyBlock(keyLength: 77))))
        XCTAssertTrue(Tensor.keepsProbabilities(shape(lk: 29, keyBlock: 29)))
        XCTAssertFalse(Tensor.keepsProbabilities(shape(lk: 29, keyBlock: 5)), "several key tiles")
        XCTAssertFalse(Tensor.keepsProbabilities(shape(lk: 300, keyBlock: 512)), "long key sequence")
    }

    /// Default tiles at a self-attention-like length (Lk 600 > 512: two key tiles, the second
    /// ragged; 64-row query tiles, run in parallel) against the naive composition.
    func testDefaultTilesLongSequence() {
        var rng = TestRNG(seed: 37)
        let q = rng.tensor([1, 2, 150, 8], -2, 2)
        let k = rng.tensor([1, 2, 600, 8], -2, 2)
        let v = rng.tensor([1, 2, 600, 8])
        let proj = rng.tensor([1, 2, 150, 8])
        for t in [q, k, v] { t.requiresGrad = true }
        naiveAttention(q, k, v).mul(proj).sum().backward()
        let ref = GradMode.withNoGrad { naiveAttention(q, k, v) }
        let refGrads = [q.grad!, k.grad!, v.grad!]
        for t in [q, k, v] { t.grad = nil }
        XCTAssertEqual(Tensor.attentionKeyBlock(keyLength: 600), 512)
        let y = Tensor.scaledDotProductAttention(q, k, v)
        assertClose(y, ref, rtol: 1e-5, "forward")
        y.mul(proj).sum().backward()
        for (i, t) in [q, k, v].enumerated() { assertClose(t.grad!, refGrads[i], rtol: 1e-4, "gradient of input \(i)") }
    }
}

private extension Tensor {
    func mul(_ other: Tensor) -> Tensor { self * other }
}
