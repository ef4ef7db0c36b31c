import ArgumentParser
import TensorEngine

/// `sepme bench gemm|conv|attention`: GFLOP/s of the hot kernels at SD1 shapes next to plain SGEMM.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks the GEMM, conv2d and attention kernels at SD1 UNet shapes.")

    enum Kind: String, ExpressibleByArgument, CaseIterable { case gemm, conv, attention }

    @Argument(help: "What to measure: gemm, conv or attention.")
    var kind: Kind

    @Option(help: "Minimum seconds spent per measurement (the best repetition is reported).")
    var seconds: Double = 1.0

    @Option(help: "Query rows per block of the fused attention kernel (default: about 2^19 scores per block).")
    var queryBlock: Int?

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be > 0, got \(seconds)") }
        guard (queryBlock ?? 1) >= 1 else { throw ValidationError("--query-block must be >= 1, got \(queryBlock ?? 0)") }
    }

    func run() throws {
        let bench = KernelBenchmarks(minSeconds: seconds, queryBlock: queryBlock)
        switch kind {
        case .gemm: bench.gemm()
        case .conv: bench.conv()
        case .attention: bench.attention()
        }
    }
}
