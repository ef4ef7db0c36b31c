/// NumPy/PyTorch broadcasting: shapes are aligned from the right; a dimension of 1 stretches.
enum Broadcast {
    static func shape(_ a: [Int], _ b: [Int]) -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Strides of `shape` read as `outShape` (0 where a dimension is broadcast).
    static func strides(of shape: [Int], as outShape: [Int]) -> [Int] {
        let pad = outShape.count - shape.count
        let own = Tensor.strides(of: shape)
        return (0..<outShape.count).map { i in
            i < pad ? 0 : (shape[i - pad] == 1 && outShape[i] != 1 ? 0 : own[i - pad])
        }
    }

    /// Merges neighbouring dimensions that every operand walks contiguously, so loops run on long rows.
    static func coalesce(shape: [Int], strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
        guard !shape.isEmpty else { return ([1], strides.map { _ in [0] }) }
        var outShape = [shape[0]]
        var outStrides = strides.map { [$0[0]] }
        for i in 1..<shape.count {
            let mergeable = strides.indices.allSatisfy { k in
                outStrides[k][outStrides[k].count - 1] == strides[k][i] * shape[i]
            }
            if mergeable {
                outShape[outShape.count - 1] *= shape[i]
                for k in strides.indices { outStrides[k][outStrides[k].count - 1] = strides[k][i] }
            } else {
                outShape.append(shape[i])
                for k in strides.indices { outStrides[k].append(strides[k][i]) }
            }
        }
        return (outShape, outStrides)
    }

    /// Calls `body(rowIndex, offsetA, offsetB)` for each innermost row of a broadcast binary loop.
    /// `inner` is the innermost length; `innerStrideA/B` are 0 or 1.
    static func binaryLoop(
        outShape: [Int], aShape: [Int], bShape: [Int],
        body: (
            _ outOffset: Int, _ aOffset: Int, _ bOffset: Int, _ inner: Int,
            _ strideA: Int, _ strideB: Int
        ) -> Void
    ) {
        let sa = strides(of: aShape, as: outShape)
        let sb = strides(of: bShape, as: outShape)
        let so = Tensor.strides(of: outShape)
        let (shape, st) = coalesce(shape: outShape, strides: [so, sa, sb])
        let rank = shape.count
        let inner = shape[rank - 1]
        let outer = shape.dropLast().reduce(1, *)
        let minRows = max(1, 16_384 / max(inner, 1))
        Parallel.forEachChunk(outer, minChunk: minRows) { rows in
            var idx = [Int](repeating: 0, count: max(rank - 1, 0))
            // Decompose the first row index into a multi-index.
            var r = rows.lowerBound
            for d in stride(from: rank - 2, through: 0, by: -1) {
                idx[d] = r % shape[d]
                r /= shape[d]
            }
            for _ in rows {
                var oo = 0
                var oa = 0
                var ob = 0
                for d in 0..<(rank - 1) {
                    oo += idx[d] * st[0][d]
                    oa += idx[d] * st[1][d]
                    ob += idx[d] * st[2][d]
                }
                body(oo, oa, ob, inner, st[1][rank - 1], st[2][rank - 1])
                var d = rank - 2
                while d >= 0 {
                    idx[d] += 1
                    if idx[d] < shape[d] { break }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }
}
