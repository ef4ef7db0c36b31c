import ArgumentParser
import Diffusion
import Foundation
import TensorEngine

/// `sepme bench unet`: UNet forward and forward+backward time and peak memory (batch 1, fp32); an
/// SDXL UNet ("text_time") also gets a random pooled embedding and the six time ids of its latent size.
struct BenchUNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Time the UNet forward and forward+backward (gradients into cross-attention to_k/to_v only).")

    @Option(help: ArgumentHelp(BenchModelConfiguration.help))
    var config = "sd14"

    @Option(help: "Latent height and width (64 for 512x512 images).")
    var size = 64

    @Option(help: "Text tokens in the encoder hidden states.")
    var tokens = 77

    @Option(help: "Samples per call (one shared context); times are per call.")
    var batch = 1

    @Option(help: "Measurements of each case; the fastest is reported.")
    var repeats = 1

    @Option(help: "Seed of the random weights and inputs.")
    var seed: UInt64 = 0

    @Flag(help: "Also time the no-grad forward in bf16 (--precision bf16), after each fp32 forward.")
    var bf16 = false

    @Flag(help: "Time each backward rule of the fastest forward+backward; print the time per operation and the slowest shapes.")
    var profileBackward = false

    func validate() throws {
        try FlagCheck.nonEmpty("--config", config)
        try FlagCheck.range("--size", size, 1...BenchLimits.maxLatentSize)
        try FlagCheck.range("--tokens", tokens, 1...BenchLimits.maxTokens)
        try FlagCheck.range("--batch", batch, 1...BenchLimits.maxBatch)
        try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats)
    }

    func run() throws { try CommandFailure.reporting { try measure() } }

    private func measure() throws {
        let configuration = try BenchModelConfiguration.unet(config)
        try BenchLimits.checkMemory("--size \(size) with --batch \(batch)", configuration: configuration, size: size, batch: batch)
        print("UNet benchmark: config \(config), batch \(batch), \(size)x\(size) latent, \(tokens) tokens, fp32, \(Parallel.threadCount) threads")
        let benchmark = UNetBenchmark(
            configuration: configuration, size: size, tokens: tokens, seed: seed, repeats: repeats, batch: batch, bf16: bf16,
            profileBackward: profileBackward)
        let peaks = MeasuredPeaks.measure(bf16: bf16)
        peaks.printPeaks()
        let r = try benchmark.run()
        func gb(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
        print(
            String(format: "forward:          %.3f s (", r.forwardSeconds)
                + peaks.counted(flops: r.forwardFlops, seconds: r.forwardSeconds) + ")")
        if let t = r.bf16ForwardSeconds, let e = r.bf16RelativeError {
            print(
                String(
                    format: "forward bf16:     %.3f s (bf16 / fp32 time %.3f; %@; max |bf16 - fp32| / max |fp32| of the output %.2e; ",
                    t, t / r.forwardSeconds, peaks.rate(flops: r.forwardFlops, seconds: t, precision: .bf16), e)
                    + "\(BF16GEMM.path); \(BF16Payoff.verdict))")
        }
        print(
            String(
                format: "forward+backward: %.3f s (%ld trainable of %ld parameters; ",
                r.forwardBackwardSeconds, r.trainableParameterCount, r.parameterCount)
                + peaks.counted(flops: r.forwardBackwardFlops, seconds: r.forwardBackwardSeconds) + ")")
        if let profile = r.backwardProfile { printProfile(profile) }
        print("peak tensor memory: \(gb(r.peakTensorBytes))")
        print("peak resident memory (VmHWM): \(r.peakResidentBytes.map(gb) ?? "unavailable")")
    }

    /// The backward rules' time per operation, then the slowest operation-and-shape entries.
    private func printProfile(_ profile: BackwardProfile) {
        let total = profile.totalSeconds
        func share(_ seconds: Double) -> String {
            String(format: "%9.1f ms  %5.1f %%", seconds * 1e3, total > 0 ? 100 * seconds / total : 0)
        }
        print(String(format: "backward rules: %.3f s in all", total))
        for op in profile.byOperation { print(share(op.seconds) + String(format: "  %5ld calls  ", op.calls) + op.operation) }
        print("slowest operation and gradient shape:")
        for e in profile.entries.prefix(12) {
            print(share(e.seconds) + String(format: "  %5ld calls  ", e.calls) + "\(e.operation) \(e.gradientShape)")
        }
    }
}
