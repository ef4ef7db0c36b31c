import CVectorMath
import Foundation

// Softmax, LayerNorm and GroupNorm as fused row kernels with hand-written backward rules.

/// Normalises `rows` rows of length `n` (stride n) from `src` into `dst`: dst = (src - mean) * rstd;
/// returns per-row (mean, rstd), the sums in Double (CVectorMath/norm_rows.c).
private func normalizeRows(
    _ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
    rows: Range<Int>, n: Int, eps: Float,
    mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
) {
    for r in rows {
        sepme_norm_statistics(src + r * n, n, eps, mean + r, rstd + r)
        sepme_norm_apply(dst + r * n, src + r * n, n, mean[r], rstd[r], 1, 0)
    }
}

/// Backward of y = xhat for rows normalised over n elements: given dxhat, xhat and rstd,
/// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
private func normalizeRowsBackward(
    dxhat: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>,
    rows: Range<Int>, n: Int
) {
    for r in rows {
        let g = dxhat + r * n
        let h = xhat + r * n
        let o = dx + r * n
        var sg = 0.0
        var sgh = 0.0
        for j in 0..<n {
            sg += Double(g[j])
            sgh += Double(g[j]) * Double(h[j])
        }
        let mg = Float(sg / Double(n))
        let mgh = Float(sgh / Double(n))
        let rs = rstd[r]
        for j in 0..<n { o[j] = rs * (g[j] - mg - h[j] * mgh) }
    }
}

extension Tensor {
    /// Softmax over the last dimension (max-subtracted, as torch.softmax).
    public func softmax() -> Tensor {
        let n = shape.last ?? 1
        let rows = count / Swift.max(n, 1)
        let out = Tensor(uninitialized: shape)
        let src = pointer
        let dst = out.pointer
        Parallel.forEachChunk(rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { range in
            // m the row maximum, y = expf(x − m) (libm's bits) summed in order, then y · (1 / sum).
            for r in range { VectorMath.softmaxRow(dst + r * n, src + r * n, n) }
        }
        return Tensor.record("softmax", inputs: [self], output: out) { g, _ in
            // dx = y * (g - sum(g * y))
            let gx = Tensor(uninitialized: self.shape)
            let gp = g.pointer
            let yp = out.pointer
            let dp = gx.pointer
            Parallel.forEachChunk(rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { range in
                for r in range {
                    let gr = gp + r * n
                    let yr = yp + r * n
                    let dr = dp + r * n
                    var dot: Float = 0
                    for j in 0..<n { dot += gr[j] * yr[j] }
                    for j in 0..<n { dr[j] = yr[j] * (gr[j] - dot) }
                }
            }
            return [gx]
        }
    }

    /// LayerNorm over the last dimension (torch.nn.functional.layer_norm with normalized_shape = [C]).
    // x: [..., C], weight/bias: [C]
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let n = x.shape.last ?? 1
        let rows = x.count / Swift.max(n, 1)
        if let weight { precondition(weight.shape == [n], "layerNorm: weight \(weight.shape) for last dimension \(n)") }
        if let bias { precondition(bias.shape == [n], "layerNorm: bias \(bias.shape) for last dimension \(n)") }
        if !recordsGradient([x, weight, bias]) {
            // Nothing to save for a backward pass: statistics and affine in one pass per row.
            let out = Tensor(uninitialized: x.shape)
            let (src, dst, w, b) = (x.pointer, out.pointer, weight?.pointer, bias?.pointer)
            Parallel.forEachChunk(rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { range in
                var mean: Float = 0
                var rstd: Float = 0
                for r in range {
                    sepme_norm_statistics(src + r * n, n, eps, &mean, &rstd)
                    sepme_norm_apply_row(dst + r * n, src + r * n, n, mean, rstd, w, b)
                }
            }
            return out
        }
        let xhat = Tensor(uninitialized: x.shape)
        let mean = Tensor(uninitialized: [rows])
        let rstd = Tensor(uninitialized: [rows])
        Parallel.forEachChunk(rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { r in
            normalizeRows(x.pointer, xhat.pointer, rows: r, n: n, eps: eps, mean: mean.pointer, rstd: rstd.pointer)
        }
        let out = affine(xhat, weight: weight, bias: bias, rows: rows, channels: n, spatial: 1)
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return record("layer_norm", inputs: inputs, output: out) { g, needs in
            affineBackward(
                g, xhat: xhat, rstd: rstd, weight: weight, bias: bias, needs: needs,
                rows: rows, channels: n, spatial: 1, groupRows: rows, groupSize: n)
        }
    }

    /// GroupNorm (torch.nn.functional.group_norm): statistics over (C/G × spatial) per sample and group;
    /// with `silu`, followed by SiLU (F.silu(F.group_norm(...)), the pre-activation of SD's resnets),
    /// in one pass over the data when no gradient is recorded.
    // x: [B, C, *], weight/bias: [C]
    public static func groupNorm(
        _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5, silu: Bool = false
    ) -> Tensor {
        precondition(x.rank >= 2, "groupNorm needs [B, C, ...], got \(x.shape)")
        let b = x.shape[0]
        let c = x.shape[1]
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels do not split into \(groups) groups")
        if let weight { precondition(weight.shape == [c], "groupNorm: weight \(weight.shape) for \(c) channels") }
        if let bias { precondition(bias.shape == [c], "groupNorm: bias \(bias.shape) for \(c) channels") }
        let spatial = x.count / Swift.max(b * c, 1)
        let groupRows = b * groups
        let groupSize = (c / groups) * spatial
        if !recordsGradient([x, weight, bias]) {
            return groupNormInference(
                x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu, spatial: spatial)
        }
        if silu { return groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps).silu() }
        let xhat = Tensor(uninitialized: x.shape)
        let mean = Tensor(uninitialized: [groupRows])
        let rstd = Tensor(uninitialized: [groupRows])
        Parallel.forEachChunk(groupRows, minChunk: 1) { r in
            normalizeRows(x.pointer, xhat.pointer, rows: r, n: groupSize, eps: eps, mean: mean.pointer, rstd: rstd.pointer)
        }
        let out = affine(xhat, weight: weight, bias: bias, rows: b, channels: c, spatial: spatial)
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return record("group_norm", inputs: inputs, output: out) { g, needs in
            affineBackward(
                g, xhat: xhat, rstd: rstd, weight: weight, bias: bias, needs: needs,
                rows: b, channels: c, spatial: spatial, groupRows: groupRows, groupSize: groupSize)
        }
    }

    /// GroupNorm (and SiLU) without a recorded gradient: per (sample, group) the statistics, then each
    /// channel's affine (and SiLU) written straight into the output, no normalised copy kept.
    // x: [B, C, *], weight/bias: [C] -> [B, C, *]
    private static func groupNormInference(
        _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool, spatial: Int
    ) -> Tensor {
        let c = x.shape[1]
        let perGroup = c / groups
        let out = Tensor(uninitialized: x.shape)
        let (src, dst, w, bb) = (x.pointer, out.pointer, weight?.pointer, bias?.pointer)
        Parallel.forEachChunk(x.shape[0] * groups, minChunk: 1) { range in
            var mean: Float = 0
            var rstd: Float = 0
            for r in range {
                let base = r * perGroup * spatial
                sepme_norm_statistics(src + base, perGroup * spatial, eps, &mean, &rstd)
                for k in 0..<perGroup {
                    let ch = (r % groups) * perGroup + k
                    let o = dst + base + k * spatial
                    sepme_norm_apply(o, src + base + k * spatial, spatial, mean, rstd, w?[ch] ?? 1, bb?[ch] ?? 0)
                    if silu { VectorMath.silu(o, o, spatial) }
                }
            }
        }
        return out
    }

    /// y[r, c, s] = xhat[r, c, s] * w[c] + b[c]
    private static func affine(_ xhat: Tensor, weight: Tensor?, bias: Tensor?, rows: Int, channels: Int, spatial: Int) -> Tensor {
        let out = Tensor(uninitialized: xhat.shape)
        let h = xhat.pointer
        let o = out.pointer
        let w = weight?.pointer
        let bb = bias?.pointer
        Parallel.forEachChunk(rows * channels, minChunk: Swift.max(1, 8192 / Swift.max(spatial, 1))) { range in
            for rc in range {
                let ch = rc % channels
                let scale = w?[ch] ?? 1
                let shift = bb?[ch] ?? 0
                let base = rc * spatial
                for s in 0..<spatial { o[base + s] = h[base + s] * scale + shift }
            }
        }
        return out
    }

    /// Gradients of (normalise rows, then per-channel affine) for x, weight, bias in `needs` order.
    private static func affineBackward(
        _ g: Tensor, xhat: Tensor, rstd: Tensor, weight: Tensor?, bias: Tensor?,
        needs: [Bool], rows: Int, channels: Int, spatial: Int,
        groupRows: Int, groupSize: Int
    ) -> [Tensor?] {
        var result: [Tensor?] = []
        let gp = g.pointer
        let hp = xhat.pointer
        if needs[0] {
            let dxhat: Tensor
            if let weight {
                dxhat = Tensor(uninitialized: g.shape)
                let w = weight.pointer
                let d = dxhat.pointer
                Parallel.forEachChunk(rows * channels, minChunk: Swift.max(1, 8192 / Swift.max(spatial, 1))) { range in
                    for rc in range {
                        let scale = w[rc % channels]
                        let base = rc * spatial
                        for s in 0..<spatial { d[base + s] = gp[base + s] * scale }
                    }
                }
            } else {
                dxhat = g
            }
            let dx = Tensor(uninitialized: g.shape)
            Parallel.forEachChunk(groupRows, minChunk: Swift.max(1, 8192 / Swift.max(groupSize, 1))) { r in
                normalizeRowsBackward(dxhat: dxhat.pointer, xhat: hp, rstd: rstd.pointer, dx: dx.pointer, rows: r, n: groupSize)
            }
            result.append(dx)
        } else {
            result.append(nil)
        }
        // dweight[c] = Σ g·xhat and dbias[c] = Σ g over the rows and positions of channel c, in one pass.
        let wantWeight = weight != nil && needs[1]
        let wantBias = bias != nil && needs[weight != nil ? 2 : 1]
        var dWeight = [Double](repeating: 0, count: wantWeight ? channels : 0)
        var dBias = [Double](repeating: 0, count: wantBias ? channels : 0)
        if wantWeight || wantBias {
            for rc in 0..<(rows * channels) {
                var sgh = 0.0
                var sg = 0.0
                let base = rc * spatial
                for j in 0..<spatial {
                    sgh += Double(gp[base + j]) * Double(hp[base + j])
                    sg += Double(gp[base + j])
                }
                if wantWeight { dWeight[rc % channels] += sgh }
                if wantBias { dBias[rc % channels] += sg }
            }
        }
        if weight != nil { result.append(wantWeight ? Tensor(dWeight.map { Float($0) }, shape: [channels]) : nil) }
        if bias != nil { result.append(wantBias ? Tensor(dBias.map { Float($0) }, shape: [channels]) : nil) }
        return result
    }
}
