import ArgumentParser
import Diffusion
import Foundation
import TensorEngine

/// `sepme bench unet`: UNet forward and forward+backward time and peak memory (batch 1, fp32).
struct BenchUNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Time the UNet forward and forward+backward (gradients into cross-attention to_k/to_v only).")

    @Option(help: "'sd14' or the path of a diffusers unet config.json.")
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

    func validate() throws {
        guard size >= 1 else { throw ValidationError("--size must be >= 1, got \(size)") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be >= 1, got \(tokens)") }
        guard batch >= 1 else { throw ValidationError("--batch must be >= 1, got \(batch)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be >= 1, got \(repeats)") }
    }

    func run() throws {
        let configuration: UNet2DConditionConfiguration
        if config == "sd14" {
            configuration = .sd14
        } else {
            configuration = try UNet2DConditionConfiguration.load(from: URL(fileURLWithPath: config))
        }
        print("UNet benchmark: config \(config), batch \(batch), \(size)x\(size) latent, \(tokens) tokens, fp32, \(Parallel.threadCount) threads")
        let benchmark = UNetBenchmark(configuration: configuration, size: size, tokens: tokens, seed: seed, repeats: repeats, batch: batch)
        let r = try benchmark.run()
        func gb(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
        print(String(format: "forward:          %.3f s", r.forwardSeconds))
        print(String(format: "forward+backward: %.3f s (%d trainable of %d parameters)",
                     r.forwardBackwardSeconds, r.trainableParameterCount, r.parameterCount))
        print("peak tensor memory: \(gb(r.peakTensorBytes))")
        print("peak resident memory (VmHWM): \(r.peakResidentBytes.map(gb) ?? "unavailable")")
    }
}
