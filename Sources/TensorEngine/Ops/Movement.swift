// Shape and layout operations: reshape, permute, concat, split, slice, nearest upsampling, embedding.

import CMatrixKernels

/// Copies `src` (shape `srcShape`) into a new tensor laid out as `src.permute(perm)`.
func permuteKernel(_ x: Tensor, _ perm: [Int]) -> Tensor {
    let outShape = perm.map { x.shape[$0] }
    let out = Tensor(uninitialized: outShape)
    let inStrides = Tensor.strides(of: x.shape)
    let gatherStrides = perm.map { inStrides[$0] }
    let (shape, st) = Broadcast.coalesce(shape: outShape, strides: [Tensor.strides(of: outShape), gatherStrides])
    let rank = shape.count
    let inner = shape[rank - 1]
    let si = st[1][rank - 1]
    let outer = x.count / Swift.max(inner, 1)
    let src = x.pointer
    let dst = out.pointer
    guard x.count > 0 else { return out }
    if rank >= 2, si != 1, st[1][rank - 2] == 1 {
        transposeInnermost(src, into: dst, shape: shape, gatherStrides: st[1])
        return out
    }
    Parallel.forEachChunk(outer, minChunk: Swift.max(1, 16_384 / Swift.max(inner, 1))) { rows in
        var idx = [Int](repeating: 0, count: Swift.max(rank - 1, 0))
        var r = rows.lowerBound
        for d in stride(from: rank - 2, through: 0, by: -1) {
            idx[d] = r % shape[d]
            r /= shape[d]
        }
        for row in rows {
            var oi = 0
            for d in 0..<(rank - 1) { oi += idx[d] * st[1][d] }
            let o = dst + row * inner
            if si == 1 { o.update(from: src + oi, count: inner) } else { for j in 0..<inner { o[j] = src[oi + j * si] } }
            var d = rank - 2
            while d >= 0 {
                idx[d] += 1
                if idx[d] < shape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
    }
    return out
}

/// `permuteKernel` where the output's (coalesced) second-to-last dimension is the input's contiguous one and
/// its last is not: each item of the outer dimensions is a matrix transposition (an image [C, H·W] into
/// tokens [H·W, C], and back), done by `sepme_transpose` in strips of the output's rows.
// out[m, a, b] = src[base(m) + a + b · gatherStrides[last]], out shape `shape` (coalesced)
private func transposeInnermost(
    _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, shape: [Int], gatherStrides: [Int]
) {
    let rank = shape.count
    let rows = shape[rank - 2]  // the output's rows: the source's columns
    let columns = shape[rank - 1]  // the output's columns: the source's rows, `sourceStride` apart
    let sourceStride = gatherStrides[rank - 1]
    let matrices = shape.dropLast(2).reduce(1, *)
    let strip = 64
    let strips = (rows + strip - 1) / strip
    Parallel.forEach(matrices * strips) { item in
        var m = item / strips
        var base = 0
        for d in stride(from: rank - 3, through: 0, by: -1) {
            base += (m % shape[d]) * gatherStrides[d]
            m /= shape[d]
        }
        let a0 = (item % strips) * strip
        let out = dst + (item / strips) * rows * columns + a0 * columns
        sepme_transpose(out, columns, src + base + a0, sourceStride, columns, Swift.min(strip, rows - a0))
    }
}

extension Tensor {
    /// Same elements, new shape (shares storage; one dimension may be -1).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let i = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) from \(shape)")
            target[i] = count / known
        }
        precondition(Tensor.elementCount(of: target) == count, "reshape: \(shape) (\(count) elements) into \(newShape)")
        if target == shape { return self }
        let out = Tensor(storage: storage, shape: target)
        let inShape = shape
        return Tensor.record("reshape", inputs: [self], output: out) { g, _ in [g.reshaped(inShape)] }
    }

    public func flattened() -> Tensor { reshaped([count]) }

    /// Reorders dimensions: out.shape[i] = shape[perm[i]] (copies).
    public func permuted(_ perm: [Int]) -> Tensor {
        let p = perm.map(normalizedAxis)
        precondition(Set(p).count == rank && p.count == rank, "permute: \(perm) is not a permutation of \(rank) axes")
        if p == Array(0..<rank) { return self }
        let out = permuteKernel(self, p)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in p.enumerated() { inverse[a] = i }
        return Tensor.record("permute", inputs: [self], output: out) { g, _ in [permuteKernel(g, inverse)] }
    }

    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var p = Array(0..<rank)
        p.swapAt(normalizedAxis(a), normalizedAxis(b))
        return permuted(p)
    }

    /// Swaps the last two dimensions.
    public var mT: Tensor { transposed(-1, -2) }

    /// Elements `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(
            range.lowerBound >= 0 && range.upperBound <= shape[a],
            "slice: \(range) out of bounds for axis \(axis) of \(shape)")
        var outShape = shape
        outShape[a] = range.count
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        let out = Tensor(uninitialized: outShape)
        let src = pointer
        let dst = out.pointer
        let rowIn = shape[a] * inner
        let rowOut = range.count * inner
        Parallel.forEachChunk(outer, minChunk: Swift.max(1, 16_384 / Swift.max(rowOut, 1))) { rows in
            for o in rows { (dst + o * rowOut).update(from: src + o * rowIn + range.lowerBound * inner, count: rowOut) }
        }
        let inShape = shape
        return Tensor.record("slice", inputs: [self], output: out) { g, _ in
            let gi = Tensor(zeros: inShape)
            let gs = g.pointer
            let gd = gi.pointer
            for o in 0..<outer { (gd + o * rowIn + range.lowerBound * inner).update(from: gs + o * rowOut, count: rowOut) }
            return [gi]
        }
    }

    /// Concatenates along `axis`; all other dimensions must agree.
    public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concat of no tensors")
        let a = parts[0].normalizedAxis(axis)
        for p in parts {
            precondition(
                p.rank == parts[0].rank && (0..<p.rank).allSatisfy { $0 == a || p.shape[$0] == parts[0].shape[$0] },
                "concat along \(axis): shapes \(parts.map(\.shape)) disagree")
        }
        var outShape = parts[0].shape
        outShape[a] = parts.reduce(0) { $0 + $1.shape[a] }
        let outer = outShape[..<a].reduce(1, *)
        let inner = outShape[(a + 1)...].reduce(1, *)
        let out = Tensor(uninitialized: outShape)
        let rowOut = outShape[a] * inner
        var offset = 0
        var offsets: [Int] = []
        for p in parts {
            offsets.append(offset)
            let rowIn = p.shape[a] * inner
            let src = p.pointer
            let dst = out.pointer
            let off = offset
            Parallel.forEachChunk(outer, minChunk: Swift.max(1, 16_384 / Swift.max(rowIn, 1))) { rows in
                for o in rows { (dst + o * rowOut + off).update(from: src + o * rowIn, count: rowIn) }
            }
            offset += rowIn
        }
        return record("concat", inputs: parts, output: out) { g, needs in
            parts.indices.map { i in
                needs[i] ? g.sliced(axis: a, (offsets[i] / inner)..<(offsets[i] / inner + parts[i].shape[a])) : nil
            }
        }
    }

    /// Splits along `axis` into pieces of the given sizes.
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis)
        precondition(
            sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to \(shape[a]) on axis \(axis)")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return sliced(axis: a, start..<(start + n))
        }
    }

    /// Splits into `count` equal pieces along `axis` (torch.chunk with an exact divisor).
    public func chunked(_ count: Int, axis: Int) -> [Tensor] {
        let n = shape[normalizedAxis(axis)]
        precondition(count > 0 && n % count == 0, "chunk: axis \(axis) of \(shape) does not split into \(count)")
        return split(sizes: [Int](repeating: n / count, count: count), axis: axis)
    }

    /// Nearest-neighbour 2× upsampling of the last two dimensions (F.interpolate(scale_factor=2, mode="nearest")).
    // x: [B, C, H, W] -> [B, C, 2H, 2W]
    public func upsampleNearest2x() -> Tensor {
        precondition(rank >= 2, "upsampleNearest2x needs at least 2 dimensions, got \(shape)")
        let h = shape[rank - 2]
        let w = shape[rank - 1]
        let planes = count / Swift.max(h * w, 1)
        var outShape = shape
        outShape[rank - 2] = 2 * h
        outShape[rank - 1] = 2 * w
        let out = Tensor(uninitialized: outShape)
        let src = pointer
        let dst = out.pointer
        Parallel.forEachChunk(planes, minChunk: Swift.max(1, 4096 / Swift.max(h * w, 1))) { r in
            for p in r {
                let s = src + p * h * w
                let d = dst + p * 4 * h * w
                for y in 0..<h {
                    let row = d + 2 * y * 2 * w
                    for x in 0..<w {
                        let v = s[y * w + x]
                        row[2 * x] = v
                        row[2 * x + 1] = v
                    }
                    (row + 2 * w).update(from: row, count: 2 * w)
                }
            }
        }
        return Tensor.record("upsample_nearest2x", inputs: [self], output: out) { g, _ in
            let gi = Tensor(uninitialized: self.shape)
            let gs = g.pointer
            let gd = gi.pointer
            Parallel.forEachChunk(planes, minChunk: Swift.max(1, 4096 / Swift.max(h * w, 1))) { r in
                for p in r {
                    let s = gs + p * 4 * h * w
                    let d = gd + p * h * w
                    for y in 0..<h {
                        let r0 = s + 2 * y * 2 * w
                        let r1 = r0 + 2 * w
                        for x in 0..<w { d[y * w + x] = r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1] }
                    }
                }
            }
            return [gi]
        }
    }

    /// Rows of `table` ([V, D]) picked by `indices`; output shape `indexShape + [D]` (nn.Embedding).
    public static func embedding(_ table: Tensor, indices: [Int], indexShape: [Int]) -> Tensor {
        precondition(table.rank == 2, "embedding table must be [V, D], got \(table.shape)")
        precondition(indices.count == indexShape.reduce(1, *), "embedding: \(indices.count) indices for shape \(indexShape)")
        let v = table.shape[0]
        let d = table.shape[1]
        for i in indices { precondition(i >= 0 && i < v, "embedding index \(i) outside vocabulary of \(v)") }
        let out = Tensor(uninitialized: indexShape + [d])
        for (row, i) in indices.enumerated() { (out.pointer + row * d).update(from: table.pointer + i * d, count: d) }
        return record("embedding", inputs: [table], output: out) { g, _ in
            let gt = Tensor(zeros: table.shape)
            for (row, i) in indices.enumerated() {
                let gs = g.pointer + row * d
                let gd = gt.pointer + i * d
                for j in 0..<d { gd[j] += gs[j] }
            }
            return [gt]
        }
    }
}
