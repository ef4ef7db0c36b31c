import Foundation

// Elementwise kernels with broadcasting and their backward rules (PyTorch semantics).

/// out[i] = f(x[i]) over all elements, on all cores.
@inline(__always)
func mapKernel(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let src = x.pointer
    let dst = out.pointer
    Parallel.forEachChunk(x.count) { r in for i in r { dst[i] = f(src[i]) } }
    return out
}

/// out[i] = f(x[i], y[i]) for two tensors of one shape.
@inline(__always)
func zipKernel(_ x: Tensor, _ y: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(x.shape == y.shape, "elementwise: shapes \(x.shape) and \(y.shape) differ")
    let out = Tensor(uninitialized: x.shape)
    let a = x.pointer
    let b = y.pointer
    let dst = out.pointer
    Parallel.forEachChunk(x.count) { r in for i in r { dst[i] = f(a[i], b[i]) } }
    return out
}

/// The arithmetic of a broadcasting binary kernel, as a type: the kernel is specialised for it, so its
/// loops run without a call per element (a closure handed through `Parallel` stayed one).
protocol ElementwiseArithmetic {
    static func apply(_ a: Float, _ b: Float) -> Float
}

enum Addition: ElementwiseArithmetic {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b }
}

enum Subtraction: ElementwiseArithmetic {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b }
}

enum Multiplication: ElementwiseArithmetic {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b }
}

enum Division: ElementwiseArithmetic {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b }
}

/// Broadcasting binary kernel: out = F.apply(a, b) elementwise.
func broadcastKernel<F: ElementwiseArithmetic>(_ a: Tensor, _ b: Tensor, _: F.Type) -> Tensor {
    if a.shape == b.shape {
        let out = Tensor(uninitialized: a.shape)
        let (pa, pb, po) = (a.pointer, b.pointer, out.pointer)
        Parallel.forEachChunk(a.count) { r in for i in r { po[i] = F.apply(pa[i], pb[i]) } }
        return out
    }
    let outShape = Broadcast.shape(a.shape, b.shape)
    let out = Tensor(uninitialized: outShape)
    let pa = a.pointer
    let pb = b.pointer
    let po = out.pointer
    Broadcast.binaryLoop(outShape: outShape, aShape: a.shape, bShape: b.shape) { oo, oa, ob, n, sa, sb in
        if sa == 1 && sb == 1 {
            for j in 0..<n { po[oo + j] = F.apply(pa[oa + j], pb[ob + j]) }
        } else if sa == 1 {
            let bv = pb[ob]
            for j in 0..<n { po[oo + j] = F.apply(pa[oa + j], bv) }
        } else if sb == 1 {
            let av = pa[oa]
            for j in 0..<n { po[oo + j] = F.apply(av, pb[ob + j]) }
        } else {
            let v = F.apply(pa[oa], pb[ob])
            for j in 0..<n { po[oo + j] = v }
        }
    }
    return out
}

extension Tensor {
    // MARK: Binary, broadcasting

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(a, b, Addition.self)
        return record("add", inputs: [a, b], output: out) { g, needs in
            [needs[0] ? g.sum(toShape: a.shape) : nil, needs[1] ? g.sum(toShape: b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(a, b, Subtraction.self)
        return record("sub", inputs: [a, b], output: out) { g, needs in
            [needs[0] ? g.sum(toShape: a.shape) : nil, needs[1] ? (-g).sum(toShape: b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(a, b, Multiplication.self)
        return record("mul", inputs: [a, b], output: out) { g, needs in
            [
                needs[0] ? (g * b.detached()).sum(toShape: a.shape) : nil,
                needs[1] ? (g * a.detached()).sum(toShape: b.shape) : nil
            ]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastKernel(a, b, Division.self)
        return record("div", inputs: [a, b], output: out) { g, needs in
            let bd = b.detached()
            return [
                needs[0] ? (g / bd).sum(toShape: a.shape) : nil,
                needs[1] ? (-(g * out.detached()) / bd).sum(toShape: b.shape) : nil
            ]
        }
    }

    // MARK: With a scalar

    public static func + (a: Tensor, s: Float) -> Tensor {
        let out = mapKernel(a) { $0 + s }
        return record("add_scalar", inputs: [a], output: out) { g, _ in [g] }
    }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor { (-a) + s }

    public static func * (a: Tensor, s: Float) -> Tensor {
        let out = mapKernel(a) { $0 * s }
        return record("mul_scalar", inputs: [a], output: out) { g, _ in [g * s] }
    }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }

    public static prefix func - (a: Tensor) -> Tensor {
        let out = mapKernel(a) { -$0 }
        return record("neg", inputs: [a], output: out) { g, _ in [-g] }
    }

    // MARK: Unary math

    public func exp() -> Tensor {
        let out = mapKernel(self) { Foundation.exp($0) }
        return Tensor.record("exp", inputs: [self], output: out) { g, _ in [g * out.detached()] }
    }

    public func log() -> Tensor {
        let out = mapKernel(self) { Foundation.log($0) }
        return Tensor.record("log", inputs: [self], output: out) { g, _ in [g / self.detached()] }
    }

    public func sqrt() -> Tensor {
        let out = mapKernel(self) { $0.squareRoot() }
        return Tensor.record("sqrt", inputs: [self], output: out) { g, _ in
            [zipKernel(g, out) { gv, o in gv * 0.5 / o }]
        }
    }

    /// x^p for a scalar exponent.
    public func pow(_ p: Float) -> Tensor {
        let out = p == 2 ? mapKernel(self) { $0 * $0 } : mapKernel(self) { Foundation.pow($0, p) }
        return Tensor.record("pow", inputs: [self], output: out) { g, _ in
            [zipKernel(g, self) { gv, x in gv * p * Foundation.pow(x, p - 1) }]
        }
    }

    public func square() -> Tensor { pow(2) }

    public func abs() -> Tensor {
        let out = mapKernel(self) { Swift.abs($0) }
        return Tensor.record("abs", inputs: [self], output: out) { g, _ in
            // d|x|/dx = sign(x), 0 at 0 (PyTorch's convention).
            [zipKernel(g, self) { gv, x in x > 0 ? gv : (x < 0 ? -gv : 0) }]
        }
    }

    /// Clamps into [lo, hi]; the gradient passes where the input was inside the range (PyTorch).
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        let out = mapKernel(self) { Swift.min(Swift.max($0, lo), hi) }
        return Tensor.record("clamp", inputs: [self], output: out) { g, _ in
            [zipKernel(g, self) { gv, x in (x >= lo && x <= hi) ? gv : 0 }]
        }
    }

    // MARK: In place, no history (optimisers, accumulation)

    public func addInPlace(_ other: Tensor, alpha: Float = 1) {
        precondition(other.shape == shape, "addInPlace: \(other.shape) into \(shape)")
        BLAS.saxpy(count, alpha: alpha, x: other.pointer, y: pointer)
    }

    public func scaleInPlace(_ s: Float) {
        let p = pointer
        Parallel.forEachChunk(count) { r in for i in r { p[i] *= s } }
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// True when every element is finite.
    public var isFinite: Bool {
        let p = pointer
        for i in 0..<count where !p[i].isFinite { return false }
        return true
    }
}
