import ArgumentParser
import Diffusion
import Foundation
import NeuralNet
import TensorEngine

/// `sepme bench load`: the time to load a model (`--model`, as `generate` and `erase` load it: every
/// component's configuration and weights, converted to Float32 and checked for non-finite values).
/// `scripts/bench_vs_torch.py --components load` runs it against diffusers' `from_pretrained`.
struct BenchLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Time loading a model (a diffusers folder or a single-file checkpoint) as generate and erase load it.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Loads after the first; the fastest is reported beside the first.")
    var repeats = 2

    func validate() throws { try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats) }

    func run() throws {
        try CommandFailure.reporting {
            print("load benchmark: \(modelOptions.model), \(Parallel.threadCount) threads")
            var times: [Double] = []
            for _ in 0...repeats {
                // Each load's pipeline dies when `timedLoad` returns, so later loads reuse its memory.
                let (seconds, parameters) = try Self.timedLoad(modelOptions)
                times.append(seconds)
                print(String(format: "  %.3f s, %ld parameters", seconds, parameters))
            }
            print(String(format: "first load:       %.4f s (into memory the process has not used before)", times[0]))
            print(String(format: "load:             %.4f s (the fastest of the %ld after it)", times.dropFirst().min() ?? times[0], repeats))
            print(
                "peak resident memory (VmHWM): "
                    + (MemoryStatistics.processPeakResidentBytes().map { String(format: "%.2f GB", Double($0) / 1e9) } ?? "unavailable"))
        }
    }

    /// Seconds to load the model, and its parameter count (text encoders, UNet and VAE).
    private static func timedLoad(_ options: ModelOptions) throws -> (Double, Int) {
        let started = Date()
        let pipeline = try PipelineLoader.promptConditionedPipeline(
            path: options.model, configurationFolder: options.config.map { URL(fileURLWithPath: $0) })
        let seconds = Date().timeIntervalSince(started)
        return (seconds, pipeline.imageModules.reduce(0) { $0 + $1.parameterCount })
    }
}
