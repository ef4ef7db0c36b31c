import ArgumentParser

/// `sepme bench gemm`: SGEMM at the UNet's matrix shapes.
struct BenchGemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "SGEMM GFLOP/s at SD1 UNet shapes.")
    @OptionGroup var options: KernelBenchOptions
    func run() throws { options.benchmarks.gemm() }
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
