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
        /// The no-grad forward in bf16 (`bf16`), timed after each fp32 forward; weights converted before.
        var bf16ForwardSeconds: Double?
        /// max |bf16 − fp32| / max |fp32| of the forward's output.
        var bf16RelativeError: Float?
        /// Operations of one forward as `FlopTally` counts them (the matrix products).
        var forwardFlops: Double
        /// Operations of one forward + backward into the to_k / to_v weights, counted the same way.
        var forwardBackwardFlops: Double
        /// The time of each backward rule in the fastest forward + backward (`profileBackward`).
        var backwardProfile: BackwardProfile?
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
    /// Also time the forward in bf16 (`PrecisionMode`), interleaved with the fp32 forward.
    var bf16 = false
    /// Times each backward rule (`Tensor.profilingBackward`).
    var profileBackward = false
    /// Prints each phase as it finishes.
    var log: (String) -> Void = { print($0) }

    func run() throws -> Result {
        let start = Date()
        let model = try UNet2DConditionModel(configuration: configuration, source: "benchmark configuration")
        model.initializeRandomly(seed: seed)
        log(String(format: "built and initialised %ld parameters in %.1f s", model.parameterCount, Date().timeIntervalSince(start)))

        var generator = PyTorchGenerator(seed: seed + 1)
        let sample = Tensor.randn([batch, configuration.inChannels, size, size], generator: &generator)
        let context = Tensor.concat(
            [Tensor](repeating: Tensor.randn([1, tokens, model.crossAttentionDim], generator: &generator), count: batch), axis: 0)
        // SDXL: a random pooled embedding and the time ids of a size × size latent (8 pixels per latent).
        let added = try model.textTime.map { textTime in
            guard let width = textTime.pooledWidth(timeIdCount: SDXLFolderConfigurations.timeIdCount),
                let conditions = UNetAddedConditions(
                    textEmbeds: Tensor.concat(
                        [Tensor](repeating: Tensor.randn([1, width], generator: &generator), count: batch), axis: 0),
                    sharedTimeIds: StableDiffusionXLPipeline.timeIds(width: 8 * size, height: 8 * size))
            else { throw CommandLineError("UNet benchmark: the configuration's text_time widths leave no pooled embedding") }
            return conditions
        }
        let timesteps = [Float](repeating: timestep, count: batch)
        let forwardPass = { (precision: ComputePrecision, cache: BF16WeightCache?) -> Tensor in
            PrecisionMode.with(precision, cache: cache) {
                GradMode.withNoGrad { model(sample, timesteps: timesteps, encoderHiddenStates: context, addedConditions: added) }
            }
        }

        MemoryStatistics.shared.resetPeak()
        let cache = BF16WeightCache()
        if bf16 {
            let t0 = Date()
            _ = forwardPass(.bf16, cache)
            log(
                String(
                    format: "bf16: first forward (converts %ld weights, %.2f GB) %.3f s", cache.count, Double(cache.byteCount) / 1e9,
                    Date().timeIntervalSince(t0)))
        }
        var forward = Double.infinity
        var bf16Forward = Double.infinity
        var bf16Error: Float?
        var forwardFlops = 0.0
        for _ in 0..<repeats {
            let t0 = Date()
            let (out, flops) = FlopTally.counting { forwardPass(.fp32, nil) }
            forwardFlops = flops
            forward = min(forward, Date().timeIntervalSince(t0))
            guard out.isFinite else { throw CommandLineError("UNet benchmark: the forward produced NaN or infinite values") }
            guard bf16 else { continue }
            let t1 = Date()
            let reduced = forwardPass(.bf16, cache)
            bf16Forward = min(bf16Forward, Date().timeIntervalSince(t1))
            var worst: Float = 0
            var reference: Float = 0
            for i in 0..<out.count {
                worst = max(worst, abs(reduced.pointer[i] - out.pointer[i]))
                reference = max(reference, abs(out.pointer[i]))
            }
            bf16Error = worst / max(reference, 1e-30)
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
        var forwardBackwardFlops = 0.0
        var profile: BackwardProfile?
        for _ in 0..<repeats {
            for w in trainable { w.grad = nil }
            let t0 = Date()
            var t1 = t0
            var rules: BackwardProfile?
            forwardBackwardFlops =
                FlopTally.counting {
                    let out = model(sample, timesteps: timesteps, encoderHiddenStates: context, addedConditions: added)
                    t1 = Date()
                    let loss = out.square().mean()
                    if profileBackward {
                        rules = Tensor.profilingBackward { loss.backward() }.1
                    } else {
                        loss.backward()
                    }
                }.flops
            let t2 = Date()
            if t2.timeIntervalSince(t0) < forwardBackward { profile = rules }
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
            trainableParameterCount: trainable.reduce(0) { $0 + $1.count },
            bf16ForwardSeconds: bf16 ? bf16Forward : nil, bf16RelativeError: bf16Error, forwardFlops: forwardFlops,
            forwardBackwardFlops: forwardBackwardFlops,
            backwardProfile: profile)
    }
}
