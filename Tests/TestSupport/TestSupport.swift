import Foundation
import TensorEngine
import XCTest

/// Shared test helpers: closeness assertions that print the worst element, and gradient checks by
/// central differences (the idea of ggml's test-backend-ops).
public enum TestSupport {}

/// Max |a - b| and max |b| over two equal-shaped tensors.
public func maxErrors(_ a: Tensor, _ b: Tensor) -> (abs: Float, index: Int, refMax: Float) {
    var worst: Float = 0
    var at = 0
    var ref: Float = 0
    for i in 0..<a.count {
        let d = abs(a.pointer[i] - b.pointer[i])
        if d > worst || d.isNaN {
            worst = d
            at = i
        }
        ref = max(ref, abs(b.pointer[i]))
    }
    return (worst, at, ref)
}

/// Asserts `actual` ≈ `expected` elementwise: |a - e| <= atol + rtol * max|e| (relative to the
/// tensor's scale, as the "relative max error" is meant).
public func assertClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 0,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.shape, expected.shape, "shape mismatch \(message())", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let (err, at, ref) = maxErrors(actual, expected)
    let bound = atol + rtol * ref
    if !(err <= bound) {
        let first = actual.scalars.prefix(4).map { String(format: "%.6g", Double($0)) }
        let firstE = expected.scalars.prefix(4).map { String(format: "%.6g", Double($0)) }
        XCTFail(
            "\(message()): max abs error \(err) at \(at) (actual \(actual.pointer[at]), expected \(expected.pointer[at])) > bound \(bound) [max|expected| \(ref)]; first actual \(first), expected \(firstE)",
            file: file, line: line)
    }
}

/// A deterministic generator for test inputs (SplitMix64).
public struct TestRNG {
    var generator: SplitMix64
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    public mutating func next() -> UInt64 { generator.next() }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(generator.nextUnitDouble())
    }
    public mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1, requiresGrad: Bool = false) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor((0..<n).map { _ in uniform(lo, hi) }, shape: shape, requiresGrad: requiresGrad)
    }
}

/// Checks the analytic gradient of `f` (reduced to a scalar by a fixed random projection) against
/// central differences in Double-accumulated Float32, for each input. Returns the worst relative error.
///
/// Error measure per input: max |analytic - numeric| / max(max |numeric|, floor).
@discardableResult
public func checkGradients(
    _ name: String, inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 1e-2,
    maxChecksPerInput: Int = 64, seed: UInt64 = 7,
    file: StaticString = #filePath, line: UInt = #line,
    _ f: ([Tensor]) -> Tensor
) -> Float {
    for t in inputs {
        t.requiresGrad = true
        t.grad = nil
    }
    let probe = f(inputs)
    var rng = TestRNG(seed: seed)
    let projection = rng.tensor(probe.shape, -1, 1)
    func scalarLoss() -> Double {
        let out = GradMode.withNoGrad { f(inputs) }
        var acc = 0.0
        for i in 0..<out.count { acc += Double(out.pointer[i]) * Double(projection.pointer[i]) }
        return acc
    }
    (probe * projection).sum().backward()
    var worst: Float = 0
    for (k, t) in inputs.enumerated() {
        guard let analytic = t.grad else {
            XCTFail("\(name): input \(k) got no gradient", file: file, line: line)
            continue
        }
        let stride = max(1, t.count / maxChecksPerInput)
        var maxDiff: Double = 0
        var maxRef: Double = 0
        var worstAt = 0
        var worstA = 0.0
        var worstN = 0.0
        for i in Swift.stride(from: 0, to: t.count, by: stride) {
            let saved = t.pointer[i]
            t.pointer[i] = saved + eps
            let up = scalarLoss()
            t.pointer[i] = saved - eps
            let down = scalarLoss()
            t.pointer[i] = saved
            let numeric = (up - down) / (2 * Double(eps))
            let a = Double(analytic.pointer[i])
            if abs(a - numeric) > maxDiff {
                maxDiff = abs(a - numeric)
                worstAt = i
                worstA = a
                worstN = numeric
            }
            maxRef = max(maxRef, abs(numeric))
        }
        let rel = Float(maxDiff / max(maxRef, 1e-3))
        worst = max(worst, rel)
        if !(rel <= tolerance) {
            XCTFail(
                "\(name): input \(k) \(t.shape): relative gradient error \(rel) > \(tolerance) at \(worstAt) (analytic \(worstA), numeric \(worstN))",
                file: file, line: line)
        }
    }
    for t in inputs {
        t.requiresGrad = false
        t.grad = nil
    }
    return worst
}
