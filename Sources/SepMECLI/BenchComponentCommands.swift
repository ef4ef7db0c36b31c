import ArgumentParser
import Foundation
import TensorEngine

/// `sepme bench vae`: the SD1.4 VAE decoder's time and peak memory (fp32 or `--precision bf16`, random
/// weights).
struct BenchVAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae", abstract: "Time the SD1.4 VAE decoder (one latent to one image; random weights).")

    @Option(help: "Latent height and width (64 for a 512x512 image).")
    var size = 64

    @OptionGroup var measurement: ComponentBenchOptions
    @OptionGroup var precisionOption: PrecisionOption

    func validate() throws {
        try FlagCheck.range("--size", size, 1...BenchLimits.maxVAELatentSize)
    }

    func run() throws {
        try CommandFailure.reporting {
            print(
                "VAE decode benchmark: SD1.4 configuration, \(size)x\(size) latent -> \(8 * size)x\(8 * size) image, "
                    + "\(precisionOption.precision.rawValue), \(Parallel.threadCount) threads, \(SGEMMKernel.path)\(precisionOption.verdictSuffix)"
            )
            let peaks = MeasuredPeaks.measure(bf16: precisionOption.precision == .bf16)
            peaks.printPeaks()
            let r = try measurement.benchmark.vaeDecode(size: size, precision: precisionOption.precision)
            ComponentBenchmark.printResult(r, peaks: peaks, precision: precisionOption.precision)
        }
    }
}

/// `sepme bench clip`: the SD1.x CLIP text encoder's time and peak memory (fp32, random weights).
struct BenchCLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip", abstract: "Time the SD1.x CLIP text encoder (ViT-L/14; fp32, random weights).")

    @Option(help: "Token ids per row (at most the encoder's 77 positions).")
    var tokens = 77

    @Option(help: "Rows per call.")
    var batch = 1

    @OptionGroup var measurement: ComponentBenchOptions

    func validate() throws {
        try FlagCheck.range("--tokens", tokens, 1...77)
        try FlagCheck.range("--batch", batch, 1...BenchLimits.maxBatch)
    }

    func run() throws {
        try CommandFailure.reporting {
            print(
                "CLIP text encoder benchmark: ViT-L/14, batch \(batch), \(tokens) tokens, fp32, \(Parallel.threadCount) threads, \(SGEMMKernel.path)")
            let peaks = MeasuredPeaks.measure(bf16: false)
            peaks.printPeaks()
            let r = try measurement.benchmark.textEncoder(tokens: tokens, batch: batch)
            ComponentBenchmark.printResult(r, peaks: peaks)
        }
    }
}

/// Options shared by `bench vae` and `bench clip`.
struct ComponentBenchOptions: ParsableArguments {
    @Option(help: "Measurements after one warm-up call; the fastest is reported.")
    var repeats = 1

    @Option(help: "Seed of the random weights and inputs.")
    var seed: UInt64 = 0

    func validate() throws { try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats) }

    var benchmark: ComponentBenchmark { ComponentBenchmark(repeats: repeats, seed: seed) }
}

extension ComponentBenchmark {
    static func printResult(_ r: Result, peaks: MeasuredPeaks, precision: ComputePrecision = .fp32) {
        print(
            String(format: "forward:          %.4f s (%ld parameters; ", r.seconds, r.parameterCount)
                + peaks.counted(flops: r.flops, seconds: r.seconds, precision: precision) + ")")
        print("peak resident memory (VmHWM): " + (r.peakResidentBytes.map { String(format: "%.2f GB", Double($0) / 1e9) } ?? "unavailable"))
    }
}
