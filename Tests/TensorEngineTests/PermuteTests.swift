import CMatrixKernels
@testable import TensorEngine
import XCTest

/// `Tensor.permuted` against the definition out[i₀, …] = x[i_perm⁻¹…] element by element, on both paths
/// of `sepme_transpose` (element by element, and 8 × 8 register blocks where the CPU has AVX2), which the
/// swaps of the two innermost dimensions (image [C, H·W] to tokens and back) run on: whole and partial
/// blocks, more rows than one strip, several matrices, and permutations that keep the innermost dimension
/// (row copies) or move it elsewhere (element gathers).
final class PermuteTests: XCTestCase {
    private let cases: [(shape: [Int], perm: [Int])] = [
        ([2, 5, 3, 7], [0, 2, 3, 1]),
        ([2, 3, 7, 5], [0, 3, 1, 2]),
        ([13, 37], [1, 0]),
        ([16, 8], [1, 0]),
        ([3, 17, 9], [0, 2, 1]),
        ([2, 70, 9, 10], [0, 2, 3, 1]),
        ([2, 90, 70], [0, 2, 1]),
        ([2, 5, 3, 4], [0, 2, 1, 3]),
        ([4, 3, 2], [2, 0, 1]),
        ([1, 1, 6], [2, 1, 0])
    ]

    /// The element of `x` (shape `shape`) that output index `flat` of the permutation takes.
    private func reference(_ x: [Float], shape: [Int], perm: [Int]) -> [Float] {
        let outShape = perm.map { shape[$0] }
        let inStrides = Tensor.strides(of: shape)
        return (0..<x.count).map { flat in
            var rest = flat
            var offset = 0
            for d in stride(from: outShape.count - 1, through: 0, by: -1) {
                offset += (rest % outShape[d]) * inStrides[perm[d]]
                rest /= outShape[d]
            }
            return x[offset]
        }
    }

    func testPermutationsMatchTheDefinitionOnEveryTransposePath() {
        let previous = sepme_transpose_set_path(1)
        defer { _ = sepme_transpose_set_path(previous) }
        let best = Int(sepme_transpose_path())
        for path in 0...best {
            _ = sepme_transpose_set_path(Int32(path))
            for (shape, perm) in cases {
                let count = shape.reduce(1, *)
                let values = (0..<count).map { Float($0) * 0.5 - 7 }
                let x = Tensor(values, shape: shape)
                let y = x.permuted(perm)
                XCTAssertEqual(y.shape, perm.map { shape[$0] }, "path \(path), \(shape) by \(perm)")
                XCTAssertEqual(y.scalars, reference(values, shape: shape, perm: perm), "path \(path), \(shape) by \(perm)")
            }
        }
    }
}
