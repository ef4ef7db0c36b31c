import ArgumentParser
import Foundation
import TensorEngine

/// `sepme bench peak`: the machine's fp32 FMA peak and, where the CPU has them, its BF16 dot-product
/// (AVX-512 BF16) and BF16 tile (AMX) peaks, on the engine's threads.
struct BenchPeakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak", abstract: "Measured fp32 FMA peak and BF16 dot-product peak (GFLOP/s) on the engine's threads.")
    @OptionGroup var options: KernelBenchOptions
    func run() throws {
        let seconds = Swift.min(options.seconds, 10)
        print("threads \(Parallel.threadCount)")
        let fp32 = PeakRate.measure(.fp32, seconds: seconds / 4, repeats: 4) ?? 0
        print("fp32 FMA peak (\(PeakRate.fp32Instructions)): " + String(format: "%.1f GFLOP/s", fp32))
        if let bf16 = PeakRate.measure(.bf16, seconds: seconds / 4, repeats: 4) {
            print(String(format: "BF16 dot-product peak (AVX-512 BF16 vdpbf16ps): %.1f GFLOP/s, %.2f× the fp32 peak", bf16, bf16 / max(fp32, 1e-9)))
        } else {
            print("BF16 dot-product peak: this CPU has no AVX-512 BF16")
        }
        if let amx = PeakRate.measure(.amx, seconds: seconds / 4, repeats: 4) {
            print(String(format: "BF16 tile peak (AMX-BF16 tdpbf16ps): %.1f GFLOP/s, %.2f× the fp32 peak", amx, amx / max(fp32, 1e-9)))
        }
    }
}

/// `sepme bench gemm`: SGEMM and the BF16 product at the UNet's matrix shapes.
struct BenchGemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "SGEMM and BF16-product GFLOP/s at SD1 UNet shapes (and OpenBLAS's SGEMM where sepme's kernels run).")
    @OptionGroup var options: KernelBenchOptions
    @Flag(help: "Only SGEMM (no bf16 rows).") var fp32Only = false
    func run() throws { options.benchmarks.gemm(bf16: !fp32Only) }
}

/// `sepme bench conv`: conv2d forward/backward at SD1 shapes next to SGEMM.
struct BenchConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv", abstract: "conv2d GFLOP/s at SD1 shapes, as a ratio of SGEMM.")
    @OptionGroup var options: KernelBenchOptions
    func run() throws { options.benchmarks.conv() }
}

/// `sepme bench attention`: fused attention forward/backward at SD1 shapes next to SGEMM.
struct BenchAttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attention", abstract: "Fused attention GFLOP/s at SD1 shapes, as a ratio of SGEMM.")
    @OptionGroup var options: KernelBenchOptions
    func run() throws { options.benchmarks.attention() }
}

/// `sepme bench geglu`: the GEGLU activation next to the same loops on libm's erff.
struct BenchGEGLUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "geglu", abstract: "GEGLU forward/backward at the SD1 64x64 shape against libm erff loops.")
    @OptionGroup var options: KernelBenchOptions
    func run() throws { options.benchmarks.geglu() }
}

/// `sepme bench parallel`: what a parallel loop costs beyond its items, on the worker pool against
/// libdispatch and the calling thread alone.
struct BenchParallelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parallel",
        abstract: "Time back-to-back short parallel loops on the worker pool against concurrentPerform and one thread.")
    @Option(help: "Minimum seconds per measurement.") var seconds = 0.2
    @Option(help: "Rounds, each measuring every way once; the fastest is reported.") var rounds = 3
    func validate() throws {
        guard seconds > 0, seconds <= 60 else { throw ValidationError("--seconds must be in (0, 60], got \(seconds)") }
        guard rounds >= 1, rounds <= 100 else { throw ValidationError("--rounds must be 1 to 100, got \(rounds)") }
    }
    func run() throws { ParallelBenchmark(seconds: seconds, rounds: rounds).run() }
}
