import ArgumentParser

/// `sepme bench ...`: performance figures printed next to a baseline measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Benchmarks: the machine's peak, kernels against its SGEMM rate and peak, the UNet, VAE and text encoder, SepME's training step, loading a model.",
        subcommands: [
            BenchPeakCommand.self, BenchGemmCommand.self, BenchGenerateCommand.self, BenchToyCommand.self, BenchConvCommand.self,
            BenchAttentionCommand.self,
            BenchGEGLUCommand.self, BenchParallelCommand.self,
            BenchNullSpaceCommand.self, BenchUNetCommand.self, BenchVAECommand.self, BenchCLIPCommand.self,
            BenchEraseStepCommand.self, BenchLoadCommand.self
        ])
}

/// Options shared by the kernel benchmarks.
struct KernelBenchOptions: ParsableArguments {
    @Option(help: "Minimum seconds spent per measurement (the best repetition is reported).")
    var seconds: Double = 1.0

    @Option(help: "Query rows per block of the fused attention kernel (default: about 2^14 scores per tile, at least 128 rows).")
    var queryBlock: Int?

    func validate() throws {
        try FlagCheck.finite("--seconds", seconds, above: 0, atMost: 3600)
        if let queryBlock { try FlagCheck.range("--query-block", queryBlock, 1...65536) }
    }

    var benchmarks: KernelBenchmarks { KernelBenchmarks(minSeconds: seconds, queryBlock: queryBlock) }
}
