import Diffusion
import Foundation
import TensorEngine

/// Times UNet2DConditionModel at batch `batch` (default 1), fp32, random weights (no checkpoint needed):
/// a no-grad forward, and a forward + backward with gradients only into every cross-attention
/// to_k / to_v weight (SepME's trainable slots), everything else frozen.
struct UNetBenchmark {
    struct Result {
        var forwardSeconds: Double
        var forwardBackwardSeconds: Double
        /// Engine tensor storage high-water mark over both measurements.
        var peakTensorBytes: Int
        /// Process resident-set high-water mark (VmHWM), weights included.
        var peakResidentBytes: Int?
        var parameterCount: Int
        var trainableParameterCount: Int
    }

    var configuration: UNet2DConditionConfiguration
    /// Latent height and width.
    var size: Int
    var tokens = 77
    var timestep: Float = 500
    var seed: UInt64 = 0
    var repeats = 1
    /// Samples per call; all share one context.
    var batch = 1
    /// Prints each phase as it finishes.
    var log: (String) -> Void = { print($0) }

    func run() throws -> Result {
        let start = Date()
        let model = try UNet2DConditionModel(configuration: configuration, source: "benchmark configuration")
        model.initializeRandomly(seed: seed)
        log(String(format: "built and initialised %d parameters in %.1f s", model.parameterCount, Date().timeIntervalSince(start)))

        var generator = PyTorchGenerator(seed: seed + 1)
        let sample = Tensor.randn([batch, configuration.inChannels, size, size], generator: &generator)
        let context = Tensor.concat(
            [Tensor](repeating: Tensor.randn([1, tokens, model.crossAttentionDim], generator: &generator), count: batch), axis: 0)

        MemoryStatistics.shared.resetPeak()
        var forward = Double.infinity
        for _ in 0..<repeats {
            let t0 = Date()
            let out = GradMode.withNoGrad { model(sample, timesteps: [Float](repeating: timestep, count: batch), encoderHiddenStates: context) }
            forward = min(forward, Date().timeIntervalSince(t0))
            guard out.isFinite else { throw CommandLineError("UNet benchmark: the forward produced NaN or infinite values") }
        }
        log(String(format: "forward: %.3f s", forward))

        let trainable = model.crossAttentionLayers().flatMap { [$0.attention.to_k.weight, $0.attention.to_v.weight] }
        for w in trainable { w.requiresGrad = true }
        defer {
            for w in trainable {
                w.requiresGrad = false
                w.grad = nil
            }
        }
        var forwardBackward = Double.infinity
        for _ in 0..<repeats {
            for w in trainable { w.grad = nil }
            let t0 = Date()
            let out = model(sample, timesteps: [Float](repeating: timestep, count: batch), encoderHiddenStates: context)
            let t1 = Date()
            out.square().mean().backward()
            let t2 = Date()
            forwardBackward = min(forwardBackward, t2.timeIntervalSince(t0))
            log(
                String(
                    format: "forward+backward: %.3f s (forward with graph %.3f s, backward %.3f s)",
                    t2.timeIntervalSince(t0), t1.timeIntervalSince(t0), t2.timeIntervalSince(t1)))
        }
        guard trainable.allSatisfy({ $0.grad != nil }) else {
            throw CommandLineError("UNet benchmark: a to_k / to_v weight got no gradient")
        }
        return Result(
            forwardSeconds: forward, forwardBackwardSeconds: forwardBackward,
            peakTensorBytes: MemoryStatistics.shared.peakBytes,
            peakResidentBytes: MemoryStatistics.processPeakResidentBytes(),
            parameterCount: model.parameterCount,
            trainableParameterCount: trainable.reduce(0) { $0 + $1.count })
    }
}
