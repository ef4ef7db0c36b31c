@testable import TensorEngine

/// Test inputs shared by the bf16 tests: uniform tensors and their bf16 rounding.
enum RandomTensors {
    /// A tensor of `shape` with values uniform in [−scale, scale) from `SplitMix64(seed)`.
    static func uniform(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
        var g = SplitMix64(seed: seed)
        let n = shape.reduce(1, *)
        return Tensor((0..<n).map { _ in Float((g.nextUnitDouble() * 2 - 1) * scale) }, shape: shape)
    }

    /// `t` with every value rounded to bf16 as the packing rounds it.
    static func bf16Rounded(_ t: Tensor) -> Tensor { Tensor(t.scalars.map(BF16GEMM.rounded), shape: t.shape) }
}
