// 2-D convolution (torch.nn.functional.conv2d with groups = 1, dilation = 1), NCHW.

extension Tensor {
    /// 2-D cross-correlation with PyTorch semantics: out[n, co, oh, ow] = bias[co] +
    /// Σ_{ci, i, j} weight[co, ci, i, j] · x[n, ci, oh·sh − ph + i, ow·sw − pw + j] (zero padding).
    /// Gradients are computed only for the inputs that need them (a frozen weight costs no dW).
    // x: [N, Cin, H, W], weight: [Cout, Cin, kh, kw], bias: [Cout]? -> [N, Cout, Hout, Wout]
    public static func conv2d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil,
        stride: (Int, Int), padding: (Int, Int)
    ) -> Tensor {
        precondition(x.rank == 4, "conv2d: input must be [N, Cin, H, W], got \(x.shape)")
        precondition(
            weight.rank == 4 && weight.shape[1] == x.shape[1],
            "conv2d: weight must be [Cout, \(x.shape[1]), kh, kw] for input \(x.shape), got \(weight.shape)")
        precondition(stride.0 >= 1 && stride.1 >= 1, "conv2d: stride must be >= 1, got \(stride)")
        precondition(padding.0 >= 0 && padding.1 >= 0, "conv2d: padding must be >= 0, got \(padding)")
        let batch = x.shape[0]
        let outChannels = weight.shape[0]
        let g = Conv2DGeometry(
            channels: x.shape[1], height: x.shape[2], width: x.shape[3],
            kernelH: weight.shape[2], kernelW: weight.shape[3],
            strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1)
        precondition(
            g.height + 2 * g.padH >= g.kernelH && g.width + 2 * g.padW >= g.kernelW,
            "conv2d: kernel \(weight.shape[2])×\(weight.shape[3]) larger than padded input \(x.shape) (padding \(padding))")
        if let bias {
            precondition(bias.shape == [outChannels], "conv2d: bias must be [\(outChannels)], got \(bias.shape)")
        }
        let out = Tensor(uninitialized: [batch, outChannels, g.outH, g.outW])
        let multiplyAdds = batch * outChannels * g.patchSize * g.outH * g.outW
        FlopTally.add(multiplyAdds: multiplyAdds)
        // A gradient-free convolution inside a bf16 scope (`PrecisionMode`) uses the weight's bf16 copy, or on
        // the Winograd route its transformed weight, bf16 at the points where rounding costs least.
        let cache = PrecisionMode.bf16Cache(inputs: [x, weight, bias], outputs: outChannels, depth: g.patchSize)
        let kernelWeight =
            cache?.convolutionOperand(weight, winograd: WinogradConv3x3.applies(g, batch: batch, outChannels: outChannels))
            ?? .fp32(weight.pointer)
        Conv2DKernel.forward(
            x: x.pointer, batch: batch, weight: kernelWeight, outChannels: outChannels, bias: bias?.pointer, g,
            out: out.pointer)
        if cache != nil { return out }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        // Save only what the gradients need: x for dW, the weight for dx (a frozen weight keeps no x).
        let savedX = weight.needsGrad ? x : nil
        let savedWeight = x.needsGrad ? weight : nil
        let xShape = x.shape
        let weightShape = weight.shape
        let hasBias = bias != nil
        return record("conv2d", inputs: inputs, output: out) { gy, needs in
            let dx = needs[0] && savedWeight != nil ? Tensor(zeros: xShape) : nil
            let dw = needs[1] && savedX != nil ? Tensor(zeros: weightShape) : nil
            // dx and dW: each the forward's direct sums, whatever route computes them.
            FlopTally.add(multiplyAdds: multiplyAdds * ((dx != nil ? 1 : 0) + (dw != nil ? 1 : 0)))
            if dx != nil || dw != nil {
                // The kernel reads x only for dW and the weight only for dx.
                Conv2DKernel.backward(
                    dy: gy.pointer, x: savedX?.pointer ?? gy.pointer, batch: batch,
                    weight: savedWeight?.pointer ?? gy.pointer,
                    outChannels: outChannels, g, dx: dx?.pointer, dWeight: dw?.pointer)
            }
            var grads: [Tensor?] = [dx, dw]
            if hasBias {
                if needs[2] {
                    let db = Tensor(uninitialized: [outChannels])
                    Conv2DKernel.biasGradient(
                        dy: gy.pointer, batch: batch, outChannels: outChannels,
                        plane: g.outH * g.outW, into: db.pointer)
                    grads.append(db)
                } else {
                    grads.append(nil)
                }
            }
            return grads
        }
    }

    /// Where a 3×3 stride-1 padding-1 convolution runs: Winograd's F(4×4, 3×3) (`WinogradConv3x3`), the
    /// direct kernel (`DirectConv3x3`, on CPUs with AVX2 + FMA) or im2col + SGEMM. `automatic` picks by
    /// image and channel sizes; the others force one route on every such convolution the CPU can run that
    /// way (results agree to fp32 rounding, not bit for bit; Winograd's rounding error is the larger).
    public enum ConvolutionRoute: Sendable, CustomStringConvertible {
        case automatic, direct, im2col, winograd

        public var description: String {
            switch self {
            case .automatic: "automatic"
            case .direct: "direct"
            case .im2col: "im2col"
            case .winograd: "winograd"
            }
        }
    }

    /// Runs `body` with 3×3 convolutions sent along `route` (benchmarks: every route on the same
    /// shapes in one run). Not for use while convolutions run on other threads.
    public static func withConvolutionRoute<T>(_ route: ConvolutionRoute, _ body: () throws -> T) rethrows -> T {
        try Conv2DKernel.withRoute(route, body)
    }

    /// The route a 3×3 stride-1 padding-1 convolution of `batch` images of `channels` planes of
    /// `height` × `width` into `outChannels` planes takes now (never `automatic`).
    public static func convolutionRoute(
        batch: Int, channels: Int, height: Int, width: Int, outChannels: Int
    ) -> ConvolutionRoute {
        let g = Conv2DGeometry(
            channels: channels, height: height, width: width, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1,
            padH: 1, padW: 1)
        if WinogradConv3x3.applies(g, batch: batch, outChannels: outChannels) { return .winograd }
        return DirectConv3x3.applies(g) ? .direct : .im2col
    }

    /// conv2d with the same stride and padding along height and width.
    // x: [N, Cin, H, W], weight: [Cout, Cin, kh, kw], bias: [Cout]? -> [N, Cout, Hout, Wout]
    public static func conv2d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil,
        stride: Int = 1, padding: Int = 0
    ) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding))
    }
}
