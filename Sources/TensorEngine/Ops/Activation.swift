import Foundation

// Activations used by CLIP, the UNet and the VAE, with their derivatives (PyTorch definitions).
extension Tensor {
    public func sigmoid() -> Tensor {
        let out = mapKernel(self) { 1 / (1 + Foundation.exp(-$0)) }
        return Tensor.record("sigmoid", inputs: [self], output: out) { g, _ in
            [zipKernel(g, out) { gv, s in gv * s * (1 - s) }]
        }
    }

    public func tanh() -> Tensor {
        let out = mapKernel(self) { Foundation.tanh($0) }
        return Tensor.record("tanh", inputs: [self], output: out) { g, _ in
            [zipKernel(g, out) { gv, t in gv * (1 - t * t) }]
        }
    }

    public func relu() -> Tensor {
        let out = mapKernel(self) { Swift.max($0, 0) }
        return Tensor.record("relu", inputs: [self], output: out) { g, _ in
            [zipKernel(g, self) { gv, x in x > 0 ? gv : 0 }]
        }
    }

    /// SiLU / swish: x * sigmoid(x) (torch.nn.functional.silu), vectorised in vector_math.c.
    public func silu() -> Tensor {
        let out = Tensor(uninitialized: shape)
        let x = pointer
        let y = out.pointer
        Parallel.forEachChunk(count) { r in VectorMath.silu(y + r.lowerBound, x + r.lowerBound, r.count) }
        return Tensor.record("silu", inputs: [self], output: out) { g, _ in
            let dx = Tensor(uninitialized: self.shape)
            let gp = g.pointer
            let d = dx.pointer
            Parallel.forEachChunk(self.count) { r in VectorMath.siluBackward(d + r.lowerBound, x + r.lowerBound, gradient: gp + r.lowerBound, r.count)
            }
            return [dx]
        }
    }

    /// GELU, exact erf form (torch.nn.functional.gelu, approximate="none"); Φ to ≤ 1e-7 (vector_math.c).
    public func gelu() -> Tensor {
        let out = Tensor(uninitialized: shape)
        let x = pointer
        let y = out.pointer
        Parallel.forEachChunk(count) { r in VectorMath.gatedGelu(y + r.lowerBound, hidden: nil, gate: x + r.lowerBound, r.count) }
        return Tensor.record("gelu", inputs: [self], output: out) { g, _ in
            let dx = Tensor(uninitialized: self.shape)
            let gp = g.pointer
            let d = dx.pointer
            Parallel.forEachChunk(self.count) { r in
                VectorMath.gatedGeluBackward(
                    dHidden: nil, dGate: d + r.lowerBound, hidden: nil, gate: x + r.lowerBound,
                    gradient: gp + r.lowerBound, r.count)
            }
            return [dx]
        }
    }

    /// hidden · gelu(gate) for self = [hidden | gate] split in halves along the last axis (diffusers
    /// activations.py GEGLU after its projection). One fused step that keeps only its input for the
    /// backward: the chunk / gelu / multiply composition would keep three more [..., inner] tensors.
    // self: [..., 2·inner] -> [..., inner]
    public func gatedGelu() -> Tensor {
        precondition(rank >= 1 && shape[rank - 1] % 2 == 0, "gatedGelu: last dimension of \(shape) must be even")
        let width = shape[rank - 1]
        let inner = width / 2
        let rows = count / Swift.max(width, 1)
        let out = Tensor(uninitialized: Array(shape.dropLast()) + [inner])
        let src = pointer
        let dst = out.pointer
        let minRows = Swift.max(1, 16_384 / Swift.max(inner, 1))
        Parallel.forEachChunk(rows, minChunk: minRows) { range in
            for r in range { VectorMath.gatedGelu(dst + r * inner, hidden: src + r * width, gate: src + r * width + inner, inner) }
        }
        return Tensor.record("gated_gelu", inputs: [self], output: out) { g, needs in
            guard needs[0] else { return [nil] }
            let dp = Tensor(uninitialized: self.shape)
            let gp = g.pointer
            let d = dp.pointer
            Parallel.forEachChunk(rows, minChunk: minRows) { range in
                for r in range {
                    VectorMath.gatedGeluBackward(
                        dHidden: d + r * width, dGate: d + r * width + inner, hidden: src + r * width,
                        gate: src + r * width + inner, gradient: gp + r * inner, inner)
                }
            }
            return [dp]
        }
    }

    /// GELU, tanh approximation (approximate="tanh").
    public func geluTanh() -> Tensor {
        let k: Float = 0.79788456080286536  // sqrt(2/pi)
        let out = mapKernel(self) { x in 0.5 * x * (1 + Foundation.tanh(k * (x + 0.044715 * x * x * x))) }
        return Tensor.record("gelu_tanh", inputs: [self], output: out) { g, _ in
            [
                zipKernel(g, self) { gv, x in
                    let inner = k * (x + 0.044715 * x * x * x)
                    let t = Foundation.tanh(inner)
                    let dInner = k * (1 + 3 * 0.044715 * x * x)
                    return gv * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner)
                }
            ]
        }
    }

    /// CLIP's quick GELU: x * sigmoid(1.702 x) (transformers activations.QuickGELUActivation), computed as
    /// x / (1 + e^(−1.702 x)) with libm's expf bits (`sepme_quick_gelu`).
    public func quickGelu() -> Tensor {
        let out = Tensor(uninitialized: shape)
        let x = pointer
        let y = out.pointer
        Parallel.forEachChunk(count) { r in VectorMath.quickGelu(y + r.lowerBound, x + r.lowerBound, r.count) }
        return Tensor.record("quick_gelu", inputs: [self], output: out) { g, _ in
            [
                zipKernel(g, self) { gv, x in
                    let s = 1 / (1 + Foundation.exp(-1.702 * x))
                    return gv * (s + 1.702 * x * s * (1 - s))
                }
            ]
        }
    }
}
