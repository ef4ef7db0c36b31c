import TensorEngine
import TestSupport
import XCTest

/// Constant padding of the last two dimensions (F.pad with a 4-tuple): values against an independent
/// composition of concatenations, and gradients by central differences (tolerance 1e-2, eps 1e-2).
final class PaddingTests: XCTestCase {
    /// The same padding built from `concat` with constant blocks.
    private func padByConcat(_ x: Tensor, left: Int, right: Int, top: Int, bottom: Int, value: Float) -> Tensor {
        var s = x.shape
        var parts: [Tensor] = []
        s[s.count - 1] = left
        if left > 0 { parts.append(Tensor(filled: value, shape: s)) }
        parts.append(x)
        s[s.count - 1] = right
        if right > 0 { parts.append(Tensor(filled: value, shape: s)) }
        let wide = Tensor.concat(parts, axis: -1)
        var r = wide.shape
        var rows: [Tensor] = []
        r[r.count - 2] = top
        if top > 0 { rows.append(Tensor(filled: value, shape: r)) }
        rows.append(wide)
        r[r.count - 2] = bottom
        if bottom > 0 { rows.append(Tensor(filled: value, shape: r)) }
        return Tensor.concat(rows, axis: -2)
    }

    func testValuesMatchConcatenation() {
        var rng = TestRNG(seed: 11)
        let cases: [([Int], Int, Int, Int, Int, Float)] = [
            ([2, 3, 5, 4], 0, 1, 0, 1, 0),  // diffusers Downsample2D with padding 0
            ([1, 2, 3, 3], 2, 0, 1, 3, -1.5),
            ([4, 1], 1, 2, 3, 0, 7),
            ([2, 2, 2], 0, 0, 0, 0, 0)
        ]
        for (shape, l, r, t, b, v) in cases {
            let x = rng.tensor(shape)
            let y = x.padded(left: l, right: r, top: t, bottom: b, value: v)
            let expected = padByConcat(x, left: l, right: r, top: t, bottom: b, value: v)
            XCTAssertEqual(y.shape, expected.shape)
            XCTAssertEqual(y.scalars, expected.scalars, "pad \(shape) by (\(l), \(r), \(t), \(b))")
        }
    }

    func testGradient() {
        var rng = TestRNG(seed: 12)
        checkGradients("pad (0,1,0,1)", inputs: [rng.tensor([2, 3, 4, 5])]) { $0[0].padded(right: 1, bottom: 1) }
        checkGradients("pad (2,1,3,0) then square", inputs: [rng.tensor([1, 2, 3, 3])]) {
            $0[0].padded(left: 2, right: 1, top: 3, value: 0.5).square()
        }
    }
}
