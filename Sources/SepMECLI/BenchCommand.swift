import ArgumentParser

/// `sepme bench ...`: performance figures printed next to a baseline measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: kernels against the machine's SGEMM rate, the UNet, SepME's training step.",
        subcommands: [BenchGemmCommand.self, BenchConvCommand.self, BenchAttentionCommand.self, BenchGEGLUCommand.self,
                      BenchNullSpaceCommand.self, BenchUNetCommand.self, BenchEraseStepCommand.self])
}

/// Options shared by the kernel benchmarks.
struct KernelBenchOptions: ParsableArguments {
    @Option(help: "Minimum seconds spent per measurement (the best repetition is reported).")
    var seconds: Double = 1.0

    @Option(help: "Query rows per block of the fused attention kernel (default: about 2^14 scores per tile).")
    var queryBlock: Int?

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be > 0, got \(seconds)") }
        guard (queryBlock ?? 1) >= 1 else { throw ValidationError("--query-block must be >= 1, got \(queryBlock ?? 0)") }
    }

    var benchmarks: KernelBenchmarks { KernelBenchmarks(minSeconds: seconds, queryBlock: queryBlock) }
}
