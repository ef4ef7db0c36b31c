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

    /// SiLU / swish: x * sigmoid(x) (torch.nn.functional.silu).
    public func silu() -> Tensor {
        let out = mapKernel(self) { $0 / (1 + Foundation.exp(-$0)) }
        return Tensor.record("silu", inputs: [self], output: out) { g, _ in
            [zipKernel(g, self) { gv, x in
                let s = 1 / (1 + Foundation.exp(-x))
                return gv * s * (1 + x * (1 - s))
            }]
        }
    }

    /// GELU, exact erf form (torch.nn.functional.gelu, approximate="none").
    public func gelu() -> Tensor {
        let invSqrt2: Float = 0.70710678118654752
        let out = mapKernel(self) { 0.5 * $0 * (1 + Foundation.erf($0 * invSqrt2)) }
        return Tensor.record("gelu", inputs: [self], output: out) { g, _ in
            let invSqrt2Pi: Float = 0.39894228040143268
            return [zipKernel(g, self) { gv, x in
                let cdf = 0.5 * (1 + Foundation.erf(x * invSqrt2))
                let pdf = invSqrt2Pi * Foundation.exp(-0.5 * x * x)
                return gv * (cdf + x * pdf)
            }]
        }
    }

    /// GELU, tanh approximation (approximate="tanh").
    public func geluTanh() -> Tensor {
        let k: Float = 0.79788456080286536  // sqrt(2/pi)
        let out = mapKernel(self) { x in 0.5 * x * (1 + Foundation.tanh(k * (x + 0.044715 * x * x * x))) }
        return Tensor.record("gelu_tanh", inputs: [self], output: out) { g, _ in
            [zipKernel(g, self) { gv, x in
                let inner = k * (x + 0.044715 * x * x * x)
                let t = Foundation.tanh(inner)
                let dInner = k * (1 + 3 * 0.044715 * x * x)
                return gv * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner)
            }]
        }
    }

    /// CLIP's quick GELU: x * sigmoid(1.702 x) (transformers activations.QuickGELUActivation).
    public func quickGelu() -> Tensor {
        let out = mapKernel(self) { $0 / (1 + Foundation.exp(-1.702 * $0)) }
        return Tensor.record("quick_gelu", inputs: [self], output: out) { g, _ in
            [zipKernel(g, self) { gv, x in
                let s = 1 / (1 + Foundation.exp(-1.702 * x))
                return gv * (s + 1.702 * x * s * (1 - s))
            }]
        }
    }
}
