// Matrix products through BLAS: batched matmul with broadcast batch dimensions, and nn.Linear.

/// Batched GEMM: a [..., M, K] (or [..., K, M] if transA), b [..., K, N] (or [..., N, K] if transB);
/// batch dimensions broadcast. Returns [batch..., M, N].
func batchedMatmulKernel(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank >= 2 operands, got \(a.shape) and \(b.shape)")
    let m = transA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
    let ka = transA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
    let kb = transB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
    let n = transB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
    precondition(ka == kb, "matmul: inner dimensions differ, \(a.shape)\(transA ? "ᵀ" : "") × \(b.shape)\(transB ? "ᵀ" : "")")
    let aBatch = Array(a.shape.dropLast(2))
    let bBatch = Array(b.shape.dropLast(2))
    let batch = Broadcast.shape(aBatch, bBatch)
    let out = Tensor(uninitialized: batch + [m, n])
    let lda = a.shape[a.rank - 1]
    let ldb = b.shape[b.rank - 1]
    let aMat = a.shape[a.rank - 2] * lda
    let bMat = b.shape[b.rank - 2] * ldb
    // Rows of a can be stacked into one GEMM when b has no batch of its own and a is not transposed.
    if bBatch.reduce(1, *) == 1 && !transA {
        let rows = aBatch.reduce(1, *) * m
        BLAS.sgemm(
            transA: false, transB: transB, m: rows, n: n, k: ka, a: a.pointer, lda: lda,
            b: b.pointer, ldb: ldb, c: out.pointer, ldc: n)
        return out
    }
    let count = batch.reduce(1, *)
    let aStrides = Broadcast.strides(of: aBatch, as: batch)
    let bStrides = Broadcast.strides(of: bBatch, as: batch)
    let outStrides = Tensor.strides(of: batch)
    let (aBase, bBase, outBase) = (a.pointer, b.pointer, out.pointer)
    let product = { (i: Int) in
        var ai = 0
        var bi = 0
        var r = i
        for d in 0..<batch.count {
            let q = r / outStrides[d]
            r %= outStrides[d]
            ai += q * aStrides[d]
            bi += q * bStrides[d]
        }
        BLAS.sgemm(
            transA: transA, transB: transB, m: m, n: n, k: ka, a: aBase + ai * aMat, lda: lda,
            b: bBase + bi * bMat, ldb: ldb, c: outBase + i * m * n, ldc: n)
    }
    // Products too small to split over the threads (a text encoder's heads: 77 × 77 × 64) run one per
    // thread; larger ones, unless there are many, each on all threads, which keeps a few big ones balanced.
    if count > 1 && (m * n * ka <= smallProductMultiplyAdds || count >= 4 * Parallel.threadCount) {
        BLASThreading.forEachItem(count, product)
    } else {
        for i in 0..<count { product(i) }
    }
    return out
}

/// Multiply-adds up to which `batchedMatmulKernel` runs a batch's products one per thread.
private let smallProductMultiplyAdds = 1 << 22

extension Tensor {
    /// Matrix product with broadcast batch dimensions (torch.matmul for rank >= 2).
    // a: [..., M, K], b: [..., K, N] -> [..., M, N]
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = batchedMatmulKernel(a, b)
        let multiplyAdds = out.count * a.shape[a.rank - 1]
        FlopTally.add(multiplyAdds: multiplyAdds)
        return record("matmul", inputs: [a, b], output: out) { g, needs in
            // Each gradient is one product of the forward's size (before any broadcast sum).
            FlopTally.add(multiplyAdds: multiplyAdds * needs.prefix(2).filter { $0 }.count)
            return [
                needs[0] ? batchedMatmulKernel(g, b, transB: true).sum(toShape: a.shape) : nil,
                needs[1] ? batchedMatmulKernel(a, g, transA: true).sum(toShape: b.shape) : nil
            ]
        }
    }

    /// y = x Wᵀ + b (torch.nn.functional.linear). Weight gradients are computed only when needed. In a
    /// bf16 scope without gradient recording, a BF16 product with the weight converted once (`PrecisionMode`).
    // x: [..., in], weight: [out, in], bias: [out] -> [..., out]
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(
            weight.rank == 2 && x.shape.last == weight.shape[1],
            "linear: input \(x.shape) does not match weight \(weight.shape)")
        let inF = weight.shape[1]
        let outF = weight.shape[0]
        let rows = x.count / Swift.max(inF, 1)
        let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
        FlopTally.add(multiplyAdds: rows * inF * outF)
        if let bias {
            precondition(bias.shape == [outF], "linear: bias \(bias.shape) for \(outF) outputs")
            // The product adds onto the bias rows (beta 1), written on every worker.
            let (dst, src) = (out.pointer, bias.pointer)
            Parallel.forEachChunk(rows, minChunk: Swift.max(1, 16_384 / Swift.max(outF, 1))) { chunk in
                for r in chunk { (dst + r * outF).update(from: src, count: outF) }
            }
        }
        // A gradient-free product inside a bf16 scope (`PrecisionMode`): nothing to record.
        if let cache = PrecisionMode.bf16Cache(inputs: [x, weight, bias], outputs: outF, depth: inF) {
            let packedX = BF16PackedMatrix(left: x.pointer, rows: rows, depth: inF, rowStride: inF, depthStride: 1)
            BF16GEMM.multiply(packedX, cache.linearWeight(weight), into: out.pointer, ldc: outF, accumulate: bias != nil)
            return out
        }
        BLAS.sgemm(
            transA: false, transB: true, m: rows, n: outF, k: inF, a: x.pointer, lda: inF,
            b: weight.pointer, ldb: inF, beta: bias == nil ? 0 : 1, c: out.pointer, ldc: outF)
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        // Save only what the gradients need: x for dW, the weight for dx (a frozen weight keeps no x).
        let savedX = weight.needsGrad ? x : nil
        let savedWeight = x.needsGrad ? weight : nil
        let xShape = x.shape
        let weightShape = weight.shape
        let hasBias = bias != nil
        return record("linear", inputs: inputs, output: out) { g, needs in
            var grads: [Tensor?] = []
            // dx and dW: each one product of the forward's size.
            let products = (needs[0] && savedWeight != nil ? 1 : 0) + (needs[1] && savedX != nil ? 1 : 0)
            FlopTally.add(multiplyAdds: products * rows * inF * outF)
            if needs[0], let w = savedWeight {
                let gx = Tensor(uninitialized: xShape)
                BLAS.sgemm(
                    transA: false, transB: false, m: rows, n: inF, k: outF, a: g.pointer, lda: outF,
                    b: w.pointer, ldb: inF, c: gx.pointer, ldc: inF)
                grads.append(gx)
            } else {
                grads.append(nil)
            }
            if needs[1], let xs = savedX {
                let gw = Tensor(uninitialized: weightShape)
                BLAS.sgemm(
                    transA: true, transB: false, m: outF, n: inF, k: rows, a: g.pointer, lda: outF,
                    b: xs.pointer, ldb: inF, c: gw.pointer, ldc: inF)
                grads.append(gw)
            } else {
                grads.append(nil)
            }
            if hasBias {
                grads.append(needs[2] ? g.reshaped([rows, outF]).sum(axes: [0]) : nil)
            }
            return grads
        }
    }
}
