// Sums, means and variances over axes, with their backward rules.

/// Sums `x` over `axes` (sorted, normalised) into a tensor of `outShape` (reduced dims = 1).
/// Accumulates in Double so long reductions (64×64 latents, whole tensors) stay accurate.
func sumKernel(_ x: Tensor, reducing axes: Set<Int>) -> Tensor {
    let outShape = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
    let out = Tensor(zeros: outShape)
    let src = x.pointer
    let dst = out.pointer
    if x.count == 0 { return out }
    let firstReduced = axes.min() ?? x.rank
    let trailing = axes.count == x.rank - firstReduced && (firstReduced..<x.rank).allSatisfy(axes.contains)
    if trailing {
        // [outer, inner] rows: every output element is the sum of one contiguous row.
        let inner = x.shape[firstReduced...].reduce(1, *)
        let outer = x.count / inner
        if outer == 1 {
            let chunks = min(Parallel.threadCount * 4, max(1, inner / 65_536))
            var partial = [Double](repeating: 0, count: chunks)
            let size = (inner + chunks - 1) / chunks
            partial.withUnsafeMutableBufferPointer { part in
                guard let pp = part.baseAddress else { return }
                Parallel.forEach(chunks) { c in
                    var acc = 0.0
                    for i in (c * size)..<min(inner, (c + 1) * size) { acc += Double(src[i]) }
                    pp[c] = acc
                }
            }
            dst[0] = Float(partial.reduce(0, +))
        } else {
            Parallel.forEachChunk(outer, minChunk: max(1, 16_384 / inner)) { rows in
                for r in rows {
                    var acc = 0.0
                    let base = src + r * inner
                    for j in 0..<inner { acc += Double(base[j]) }
                    dst[r] = Float(acc)
                }
            }
        }
        return out
    }
    // General case: walk the input, adding into the broadcast position of the output.
    let inStrides = Tensor.strides(of: x.shape)
    let outStrides = Broadcast.strides(of: outShape, as: x.shape)
    let (shape, st) = Broadcast.coalesce(shape: x.shape, strides: [inStrides, outStrides])
    var acc = [Double](repeating: 0, count: out.count)
    let rank = shape.count
    var idx = [Int](repeating: 0, count: rank)
    acc.withUnsafeMutableBufferPointer { a in
        let inner = shape[rank - 1]
        let si = st[0][rank - 1]
        let so = st[1][rank - 1]
        let outer = x.count / inner
        for _ in 0..<outer {
            var oi = 0
            var oo = 0
            for d in 0..<(rank - 1) {
                oi += idx[d] * st[0][d]
                oo += idx[d] * st[1][d]
            }
            if so == 0 {
                var s = 0.0
                for j in 0..<inner { s += Double(src[oi + j * si]) }
                a[oo] += s
            } else {
                for j in 0..<inner { a[oo + j * so] += Double(src[oi + j * si]) }
            }
            var d = rank - 2
            while d >= 0 {
                idx[d] += 1
                if idx[d] < shape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
    }
    for i in 0..<out.count { dst[i] = Float(acc[i]) }
    return out
}

extension Tensor {
    /// Sum of all elements, shape [].
    public func sum() -> Tensor {
        let s = sumKernel(self, reducing: Set(0..<rank))
        let out = Tensor(storage: s.storage, shape: [])
        let inShape = shape
        return Tensor.record("sum", inputs: [self], output: out) { g, _ in
            [Tensor(filled: g.item, shape: inShape)]
        }
    }

    /// Sum over `axes` (negative axes count from the end).
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let set = Set(axes.map(normalizedAxis))
        let kept = sumKernel(self, reducing: set)
        let outShape = keepDims ? kept.shape : shape.enumerated().filter { !set.contains($0.offset) }.map(\.element)
        let out = Tensor(storage: kept.storage, shape: outShape)
        let keptShape = kept.shape
        let inShape = shape
        return Tensor.record("sum_axes", inputs: [self], output: out) { g, _ in
            [g.reshaped(keptShape).expanded(to: inShape)]
        }
    }

    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let n = Set(axes.map(normalizedAxis)).reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(n))
    }

    /// Variance over `axes`; `unbiased` divides by n - 1 (torch.var's default correction=1).
    public func variance(axes: [Int], keepDims: Bool = false, unbiased: Bool = false) -> Tensor {
        let n = Set(axes.map(normalizedAxis)).reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: axes, keepDims: true)
        return centered.square().sum(axes: axes, keepDims: keepDims) * (1 / Float(unbiased ? n - 1 : n))
    }

    /// Sums a broadcast gradient back to `target` (the inverse of broadcasting `target` to self.shape).
    public func sum(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let pad = rank - target.count
        precondition(pad >= 0, "sum(toShape:): \(target) is not a broadcast source of \(shape)")
        var axes = Set<Int>(0..<pad)
        for i in 0..<target.count where target[i] == 1 && shape[i + pad] != 1 { axes.insert(i + pad) }
        return sum(axes: Array(axes), keepDims: true).reshaped(target)
    }

    /// Broadcasts to `target` by copying (PyTorch's expand followed by contiguous).
    public func expanded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = Tensor(uninitialized: Broadcast.shape(target, shape))
        precondition(out.shape == target, "expand: \(shape) does not broadcast to \(target)")
        let src = pointer
        let dst = out.pointer
        Broadcast.binaryLoop(outShape: target, aShape: target, bShape: shape) { oo, _, ob, n, _, sb in
            if sb == 1 { (dst + oo).update(from: src + ob, count: n) } else { (dst + oo).update(repeating: src[ob], count: n) }
        }
        let inShape = shape
        return Tensor.record("expand", inputs: [self], output: out) { g, _ in [g.sum(toShape: inShape)] }
    }
}
