import ArgumentParser
import Diffusion
import Foundation
import ImageIO
import TensorEngine

/// `sepme bench generate`: whole generations in fp32 and in bf16 (`--precision bf16`), interleaved in one
/// run, with the bf16 latents' error against fp32's.
struct BenchGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time generation in fp32 and bf16 (interleaved) and compare the final latents and images.",
        discussion: """
            Each repetition generates the same prompt and seed once in fp32 and twice in bf16: once as a \
            single `generate --precision bf16` does, converting the UNet's weights in its first step and the \
            VAE decoder's when it decodes, and once with weights converted by an earlier generation (as the \
            groups of a --prompt-file after the first); the fastest of each is reported. The errors are those \
            of the final latents (before VAE decoding) and of the decoded 8-bit images.
            """)

    @OptionGroup var modelOptions: ToyModelOptions
    @Option(help: "The prompt.") var prompt = "a striped red circle"
    @Option(help: "Denoising steps.") var steps = 20
    @Option(help: "Classifier-free guidance scale; 1 or less turns guidance off.") var guidance: Float = 4
    @Option(help: "Image width and height in pixels (default: the model's).") var size: Int?
    @Option(help: "Images per generation.") var batch = 1
    @Option(help: "Repetitions of the fp32 / bf16 pair; the fastest of each is reported.") var repeats = 3
    @Option(help: "Seed of the initial noise.") var seed: UInt64 = 0

    func validate() throws {
        try FlagCheck.range("--steps", steps, 1...10_000)
        try FlagCheck.finite("--guidance", guidance, 0...GenerationOptions.maximumGuidance)
        if let size { try FlagCheck.range("--size", size, 1...GenerationOptions.maximumSide) }
        try FlagCheck.range("--batch", batch, 1...GenerationOptions.maximumBatch)
        try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats)
    }

    func run() throws { try CommandFailure.reporting { try measure() } }

    private func measure() throws {
        let pipeline = try modelOptions.pipeline(quiet: true)
        print(
            "generate benchmark: \(try modelOptions.path()), \(steps) steps, guidance \(guidance), batch \(batch), "
                + "\(Parallel.threadCount) threads, bf16 products: \(BF16GEMM.path); \(BF16Payoff.verdict)")
        func options(_ precision: ComputePrecision, steps: Int, weights: BF16WeightCache? = nil) -> GenerationOptions {
            GenerationOptions(
                prompts: [prompt], seed: seed, steps: steps, guidance: guidance, width: size, height: size,
                imagesPerPrompt: batch, precision: precision, bf16Weights: weights)
        }
        // Weights converted beforehand, by a one-step generation that decodes too.
        let converted = BF16WeightCache()
        _ = try pipeline.generate(options(.bf16, steps: 1, weights: converted))
        var best: [ComputePrecision: Double] = [:]
        var bestConverted = Double.infinity
        var latents: [ComputePrecision: Tensor] = [:]
        var images: [ComputePrecision: [RGBImage]] = [:]
        var sameWithConvertedWeights = true
        func timed(_ options: GenerationOptions) throws -> (GenerationResult, Double) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let result = try pipeline.generate(options)
            return (result, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        for _ in 0..<repeats {
            for precision in ComputePrecision.allCases {
                let (result, seconds) = try timed(options(precision, steps: steps))
                best[precision] = min(best[precision] ?? .infinity, seconds)
                latents[precision] = result.latents
                images[precision] = result.images
            }
            let (result, seconds) = try timed(options(.bf16, steps: steps, weights: converted))
            bestConverted = min(bestConverted, seconds)
            sameWithConvertedWeights = sameWithConvertedWeights && result.latents.scalars == latents[.bf16]?.scalars
        }
        guard let fp32 = best[.fp32], let bf16 = best[.bf16], let a = latents[.fp32], let b = latents[.bf16] else { return }
        print(String(format: "fp32: %.3f s   bf16: %.3f s   bf16 / fp32 time: %.3f   speed-up %.2f×", fp32, bf16, bf16 / fp32, fp32 / bf16))
        print(
            String(
                format: "bf16 with the weights converted beforehand: %.3f s   bf16 / fp32 time: %.3f   speed-up %.2f×%@",
                bestConverted, bestConverted / fp32, fp32 / bestConverted,
                sameWithConvertedWeights ? " (the same latents)" : " (the latents differ from the one-shot bf16 run's)"))
        let deviation = PrecisionDeviation(of: b, from: a)
        print(
            String(
                format: "final latents: max |bf16 - fp32| / max |fp32| = %.2e, RMS(bf16 - fp32) / RMS(fp32) = %.2e",
                deviation.largestRelative, deviation.rmsRatio))
        if let x = images[.fp32], let y = images[.bf16], x.count == y.count, zip(x, y).allSatisfy({ $0.pixels.count == $1.pixels.count }) {
            let differences = zip(x, y).flatMap { zip($0.pixels, $1.pixels).map { abs(Int($0) - Int($1)) } }
            let mean = Double(differences.reduce(0, +)) / Double(Swift.max(differences.count, 1))
            print(
                String(
                    format: "decoded images: max |bf16 - fp32| %ld of 255, mean %.3f", differences.max() ?? 0, mean)
                    + (pipeline.vaeConfiguration != nil ? " (the VAE decoder in bf16 too)" : " (a pixel-space model: no decoder)"))
        }
    }
}
