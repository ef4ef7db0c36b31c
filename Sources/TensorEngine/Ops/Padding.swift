// Constant padding of the last two dimensions (torch.nn.functional.pad with a 4-tuple, mode="constant").

extension Tensor {
    /// Pads the last two dimensions with `value`: `left`/`right` columns on the last axis and
    /// `top`/`bottom` rows on the one before, as F.pad(x, (left, right, top, bottom), value=value).
    /// The gradient is the gradient of the output cropped back to the input's window.
    // x: [..., H, W] -> [..., top + H + bottom, left + W + right]
    public func padded(left: Int = 0, right: Int = 0, top: Int = 0, bottom: Int = 0, value: Float = 0) -> Tensor {
        precondition(rank >= 2, "padded: needs at least 2 dimensions, got \(shape)")
        precondition(
            left >= 0 && right >= 0 && top >= 0 && bottom >= 0,
            "padded: amounts must be >= 0, got left \(left), right \(right), top \(top), bottom \(bottom)")
        let h = shape[rank - 2]
        let w = shape[rank - 1]
        let oh = top + h + bottom
        let ow = left + w + right
        let planes = count / Swift.max(h * w, 1)
        var outShape = shape
        outShape[rank - 2] = oh
        outShape[rank - 1] = ow
        let out = Tensor(filled: value, shape: outShape)
        let src = pointer
        let dst = out.pointer
        let minChunk = Swift.max(1, 4096 / Swift.max(oh * ow, 1))
        Parallel.forEachChunk(planes, minChunk: minChunk) { r in
            for p in r {
                for y in 0..<h { (dst + p * oh * ow + (y + top) * ow + left).update(from: src + p * h * w + y * w, count: w) }
            }
        }
        let inShape = shape
        return Tensor.record("pad_constant", inputs: [self], output: out) { g, _ in
            let gi = Tensor(uninitialized: inShape)
            let gs = g.pointer
            let gd = gi.pointer
            Parallel.forEachChunk(planes, minChunk: minChunk) { r in
                for p in r {
                    for y in 0..<h { (gd + p * h * w + y * w).update(from: gs + p * oh * ow + (y + top) * ow + left, count: w) }
                }
            }
            return [gi]
        }
    }
}
