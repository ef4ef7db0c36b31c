extension Tensor {
    /// `torch.randn(shape, generator=g)` on the CPU in float32, bit for bit (see `PyTorchGenerator.randn`).
    // result: shape
    public static func randn(_ shape: [Int], generator: inout PyTorchGenerator) -> Tensor {
        let result = Tensor(uninitialized: shape)
        generator.fillNormal(result.pointer, count: result.count)
        return result
    }

    /// `torch.rand(shape, generator=g)` on the CPU in float32: uniform in [0, 1), bit for bit.
    // result: shape
    public static func rand(_ shape: [Int], generator: inout PyTorchGenerator) -> Tensor {
        Tensor(generator.rand(count: Tensor.elementCount(of: shape)), shape: shape)
    }
}
