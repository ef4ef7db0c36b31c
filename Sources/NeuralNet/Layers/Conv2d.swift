import TensorEngine

/// torch.nn.Conv2d with square or rectangular kernels, `weight` [out, in, kh, kw].
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        weight = Tensor(zeros: [outChannels, inChannels, kernelSize, kernelSize])
        self.bias = bias ? Tensor(zeros: [outChannels]) : nil
        self.stride = stride
        self.padding = padding
    }

    // x: [B, Cin, H, W] -> [B, Cout, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
