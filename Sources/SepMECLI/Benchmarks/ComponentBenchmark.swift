import CLIP
import Diffusion
import Foundation
import NeuralNet
import TensorEngine

/// Times the other two components of a Stable Diffusion 1.x pipeline, fp32 (the VAE also in bf16), random weights (no
/// checkpoint needed), the fastest of `repeats` no-grad calls after one warm-up call: the VAE decoder
/// (`AutoencoderKL.decode`, SD1.4's configuration) and the CLIP text encoder (ViT-L/14, SD1.5's).
/// `scripts/bench_torch.py --what vae|clip` times diffusers / transformers on the same shapes.
struct ComponentBenchmark {
    struct Result {
        var seconds: Double
        /// Operations of one call as `FlopTally` counts them (the matrix products), from the warm-up call.
        var flops: Double
        var parameterCount: Int
        /// Process resident-set high-water mark (VmHWM), weights included.
        var peakResidentBytes: Int?
    }

    var repeats = 1
    var seed: UInt64 = 0

    /// Decodes one latent of `size` × `size` (an image of 8 `size` pixels a side), with the decoder's
    /// products in `precision` (bf16: weights converted in the warm-up call).
    // latent: [1, 4, size, size] -> image [1, 3, 8 size, 8 size]
    func vaeDecode(size: Int, precision: ComputePrecision = .fp32) throws -> Result {
        let vae = try AutoencoderKL(.sd14)
        vae.initializeRandomly(seed: seed)
        var generator = PyTorchGenerator(seed: seed + 1)
        let latent = Tensor.randn([1, vae.configuration.latentChannels, size, size], generator: &generator)
        let cache = BF16WeightCache()
        let (seconds, flops) = try fastest {
            let image = try PrecisionMode.with(precision, cache: cache) { try GradMode.withNoGrad { try vae.decode(latent) } }
            guard image.isFinite else { throw CommandLineError("VAE benchmark: the decoder produced NaN or infinite values") }
        }
        return Result(
            seconds: seconds, flops: flops, parameterCount: vae.parameterCount,
            peakResidentBytes: MemoryStatistics.processPeakResidentBytes())
    }

    /// Encodes `batch` rows of `tokens` token ids (SD's 77 by default): the last hidden state.
    // ids: [batch, tokens] -> [batch, tokens, 768]
    func textEncoder(tokens: Int, batch: Int) throws -> Result {
        let configuration = CLIPTextConfiguration.sd15
        guard tokens <= configuration.maxPositionEmbeddings else {
            throw CommandLineError("CLIP benchmark: --tokens \(tokens) is above the encoder's \(configuration.maxPositionEmbeddings) positions")
        }
        let encoder = CLIPTextModel(configuration: configuration)
        encoder.initializeRandomly(seed: seed)
        var state = SplitMix64(seed: seed + 1)
        let ids = (0..<batch).map { _ in (0..<tokens).map { _ in Int(state.next() % UInt64(configuration.vocabularySize)) } }
        try encoder.validate(ids)
        let (seconds, flops) = try fastest {
            let out = GradMode.withNoGrad { encoder(ids) }
            guard out.lastHiddenState.isFinite else {
                throw CommandLineError("CLIP benchmark: the encoder produced NaN or infinite values")
            }
        }
        return Result(
            seconds: seconds, flops: flops, parameterCount: encoder.parameterCount, peakResidentBytes: MemoryStatistics.processPeakResidentBytes())
    }

    /// One warm-up call, whose operations are counted, then the fastest of `repeats`.
    private func fastest(_ body: () throws -> Void) throws -> (seconds: Double, flops: Double) {
        let flops = try FlopTally.counting { try body() }.flops
        return (try WallClock.fastest(of: repeats, body), flops)
    }
}
