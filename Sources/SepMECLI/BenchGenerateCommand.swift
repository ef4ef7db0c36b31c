import ArgumentParser
import Diffusion
import Foundation
import ImageIO
import TensorEngine

/// `sepme bench generate`: whole generations in fp32 and in bf16 (`--precision bf16`), interleaved in one
/// run, with the bf16 latents' error against fp32's; or, with `--compare convolution`, fp32 generations with
/// 3×3 convolutions on the automatic route (Winograd where it applies) against direct sums.
struct BenchGenerateCommand: ParsableCommand {
    enum Comparison: String, CaseIterable, ExpressibleByArgument {
        case precision, convolution
    }

    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time generation in fp32 against bf16, or against direct-sum convolutions (interleaved), and compare the final latents and images.",
        discussion: """
            Each repetition generates the same prompt and seed once in fp32 and twice in bf16: once as a \
            single `generate --precision bf16` does, on a copy of the model loaded for it (untimed), \
            converting the UNet's weights in its first step and releasing the fp32 weights they replace (the \
            VAE decoder's are converted for each product as it decodes, never kept), and once more on that \
            copy, its weights already converted (as the groups of a --prompt-file after the first); the \
            fastest of each is reported. The errors are those \
            of the final latents (before VAE decoding) and of the decoded 8-bit images. With --compare \
            convolution, each repetition generates in fp32 once with the 3×3 convolutions on the route \
            generate takes (Winograd's F(4×4, 3×3) where it applies) and once with every one of them a direct \
            sum (the direct kernel, or im2col + SGEMM on CPUs without AVX2 + FMA), and the errors are the \
            first's against the second's.
            """)

    @OptionGroup var modelOptions: ToyModelOptions
    @Option(help: "The prompt.") var prompt = "a striped red circle"
    @Option(help: "Denoising steps.") var steps = 20
    @Option(help: "Classifier-free guidance scale; 1 or less turns guidance off.") var guidance: Float = 4
    @Option(help: "Image width and height in pixels (default: the model's).") var size: Int?
    @Option(help: "Images per generation.") var batch = 1
    @Option(help: "Repetitions of the compared pair; the fastest of each is reported.") var repeats = 3
    @Option(help: "Seed of the initial noise.") var seed: UInt64 = 0
    @Option(help: "What to compare: precision (fp32 / bf16) or convolution (automatic route / direct sums, fp32).")
    var compare: Comparison = .precision

    func validate() throws {
        try FlagCheck.range("--steps", steps, 1...10_000)
        try FlagCheck.finite("--guidance", guidance, 0...GenerationOptions.maximumGuidance)
        if let size { try FlagCheck.range("--size", size, 1...GenerationOptions.maximumSide) }
        try FlagCheck.range("--batch", batch, 1...GenerationOptions.maximumBatch)
        try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats)
    }

    func run() throws {
        try CommandFailure.reporting {
            switch compare {
            case .precision: try measurePrecision()
            case .convolution: try measureConvolutionRoutes()
            }
        }
    }

    private func options(_ precision: ComputePrecision, steps: Int, weights: BF16WeightCache? = nil) -> GenerationOptions {
        GenerationOptions(
            prompts: [prompt], seed: seed, steps: steps, guidance: guidance, width: size, height: size,
            imagesPerPrompt: batch, precision: precision, bf16Weights: weights)
    }

    /// One generation, its wall time and the operations `FlopTally` counted in it (the matrix products).
    private func timed(
        _ pipeline: any PromptConditionedPipeline, _ options: GenerationOptions
    ) throws -> (result: GenerationResult, seconds: Double, flops: Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (result, flops) = try FlopTally.counting { try pipeline.generate(options) }
        return (result, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, flops)
    }

    /// The counted rate of each timed generation against the peaks measured before them.
    private func printRates(_ peaks: MeasuredPeaks, flops: Double, _ runs: [(name: String, seconds: Double, precision: ComputePrecision)]) {
        print("counted operations: " + MeasuredPeaks.gflop(flops) + " GFLOP per generation (the matrix products)")
        for run in runs {
            print("  \(run.name): " + peaks.rate(flops: flops, seconds: run.seconds, precision: run.precision))
        }
    }

    /// Prints the final latents' and decoded images' deviation of `result` from `reference`.
    private func printDeviation(
        _ result: GenerationResult, from reference: GenerationResult, names: (String, String), decoderNote: String
    ) {
        let deviation = PrecisionDeviation(of: result.latents, from: reference.latents)
        let (a, b) = names
        print(
            String(
                format: "final latents: max |%@ - %@| / max |%@| = %.2e, RMS(%@ - %@) / RMS(%@) = %.2e",
                a, b, b, deviation.largestRelative, a, b, b, deviation.rmsRatio))
        let (x, y) = (reference.images, result.images)
        guard x.count == y.count, zip(x, y).allSatisfy({ $0.pixels.count == $1.pixels.count }) else { return }
        let differences = zip(x, y).flatMap { zip($0.pixels, $1.pixels).map { abs(Int($0) - Int($1)) } }
        let mean = Double(differences.reduce(0, +)) / Double(Swift.max(differences.count, 1))
        print(String(format: "decoded images: max |%@ - %@| %ld of 255, mean %.3f", a, b, differences.max() ?? 0, mean) + decoderNote)
    }

    private func measureConvolutionRoutes() throws {
        let pipeline = try modelOptions.pipeline(quiet: true)
        print(
            "generate benchmark: \(try modelOptions.path()), \(steps) steps, guidance \(guidance), batch \(batch), "
                + "\(Parallel.threadCount) threads, fp32; 3×3 convolutions on the automatic route against direct sums")
        let peaks = MeasuredPeaks.measure(bf16: false)
        peaks.printPeaks()
        var flops = 0.0
        var best: [Tensor.ConvolutionRoute: Double] = [:]
        var results: [Tensor.ConvolutionRoute: GenerationResult] = [:]
        for _ in 0..<repeats {
            for route in [Tensor.ConvolutionRoute.automatic, .direct] {
                let (result, seconds, counted) = try Tensor.withConvolutionRoute(route) {
                    try timed(pipeline, options(.fp32, steps: steps))
                }
                flops = counted
                best[route] = min(best[route] ?? .infinity, seconds)
                results[route] = result
            }
        }
        guard let automatic = best[.automatic], let direct = best[.direct], let a = results[.automatic],
            let d = results[.direct]
        else { return }
        print(
            String(
                format: "automatic route: %.3f s   direct sums: %.3f s   automatic / direct time: %.3f   speed-up %.2f×",
                automatic, direct, automatic / direct, direct / automatic))
        printRates(
            peaks, flops: flops,
            [("automatic route (its Winograd convolutions counted as direct sums)", automatic, .fp32), ("direct sums", direct, .fp32)])
        printDeviation(
            a, from: d, names: ("automatic", "direct"),
            decoderNote: pipeline.vaeConfiguration != nil ? " (the VAE decoder on the same routes)" : " (a pixel-space model: no decoder)")
    }

    private func measurePrecision() throws {
        let pipeline = try modelOptions.pipeline(quiet: true)
        print(
            "generate benchmark: \(try modelOptions.path()), \(steps) steps, guidance \(guidance), batch \(batch), "
                + "\(Parallel.threadCount) threads, bf16 products: \(BF16GEMM.path); \(BF16Payoff.verdict)")
        let peaks = MeasuredPeaks.measure(bf16: true)
        peaks.printPeaks()
        var flops = 0.0
        var best: [ComputePrecision: Double] = [:]
        var bestConverted = Double.infinity
        var results: [ComputePrecision: GenerationResult] = [:]
        var sameWithConvertedWeights = true
        for _ in 0..<repeats {
            let (fp32Result, fp32Seconds, counted) = try timed(pipeline, options(.fp32, steps: steps))
            flops = counted
            best[.fp32] = min(best[.fp32] ?? .infinity, fp32Seconds)
            results[.fp32] = fp32Result
            // As `generate --precision bf16` runs: a model of its own (loaded untimed) whose fp32 weights the
            // conversion in the first step replaces; then again with the weights that run converted.
            let bf16Pipeline = try modelOptions.pipeline(quiet: true)
            let weights = BF16WeightCache(retention: .copiesReplacingWeights)
            let (result, seconds, _) = try timed(bf16Pipeline, options(.bf16, steps: steps, weights: weights))
            best[.bf16] = min(best[.bf16] ?? .infinity, seconds)
            results[.bf16] = result
            let (again, convertedSeconds, _) = try timed(bf16Pipeline, options(.bf16, steps: steps, weights: weights))
            bestConverted = min(bestConverted, convertedSeconds)
            sameWithConvertedWeights = sameWithConvertedWeights && again.latents.scalars == result.latents.scalars
        }
        guard let fp32 = best[.fp32], let bf16 = best[.bf16], let a = results[.fp32], let b = results[.bf16] else { return }
        print(String(format: "fp32: %.3f s   bf16: %.3f s   bf16 / fp32 time: %.3f   speed-up %.2f×", fp32, bf16, bf16 / fp32, fp32 / bf16))
        print(
            String(
                format: "bf16 with the weights converted beforehand: %.3f s   bf16 / fp32 time: %.3f   speed-up %.2f×%@",
                bestConverted, bestConverted / fp32, fp32 / bestConverted,
                sameWithConvertedWeights ? " (the same latents)" : " (the latents differ from the one-shot bf16 run's)"))
        printRates(peaks, flops: flops, [("fp32", fp32, .fp32), ("bf16", bf16, .bf16), ("bf16, weights converted beforehand", bestConverted, .bf16)])
        printDeviation(
            b, from: a, names: ("bf16", "fp32"),
            decoderNote: pipeline.vaeConfiguration != nil ? " (the VAE decoder in bf16 too)" : " (a pixel-space model: no decoder)")
    }
}
