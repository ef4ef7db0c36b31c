import ArgumentParser
import Diffusion
import Foundation
import TensorEngine

/// `sepme bench toy`: whole generations on the embedded toy model (or `--model`) as `sepme benchmark`
/// makes them (one prompt, its seeds in one pipeline call, classifier-free guidance), as images per
/// second of wall time and of CPU time, and as GFLOP/s next to the fp32 peak measured in the same run.
struct BenchToyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toy",
        abstract: "Time toy-model generation: images/s, GFLOP/s and the fraction of the measured fp32 peak.",
        discussion: """
            The operations are counted by the engine on a first, untimed generation (the matrix products of \
            the UNet and the text encoder, forward, 2 per multiply-add, as torch.utils.flop_counter counts). \
            Each repetition then generates the same images; CPU time is the process's user + system time \
            (getrusage), which a busy machine inflates less than wall time. The fp32 peak is measured before \
            and after the repetitions and the higher figure is used.
            """)

    @OptionGroup var modelOptions: ToyModelOptions
    @Option(help: "The prompt.") var prompt = "a striped circle"
    @Option(help: "Images (seeds) per pipeline call.") var seeds = 16
    @Option(help: "Denoising steps.") var steps = 20
    @Option(help: "Classifier-free guidance scale; 1 or less turns guidance off.") var guidance: Float = 4
    @Option(help: "Timed repetitions.") var repeats = 5
    @Option(help: "Seed of the first image.") var seed: UInt64 = 0

    func validate() throws {
        try FlagCheck.range("--seeds", seeds, 1...GenerationOptions.maximumBatch)
        try FlagCheck.range("--steps", steps, 1...10_000)
        try FlagCheck.finite("--guidance", guidance, 0...GenerationOptions.maximumGuidance)
        try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats)
    }

    func run() throws { try CommandFailure.reporting { try measure() } }

    /// Seconds of user + system CPU time used by this process so far.
    private static func cpuSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
            getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private func measure() throws {
        let pipeline = try modelOptions.pipeline(quiet: true)
        let options = GenerationOptions(prompts: [prompt], seed: seed, steps: steps, guidance: guidance, imagesPerPrompt: seeds)
        let evaluations = steps * (options.usesGuidance ? 2 : 1)
        print(
            "toy generation benchmark: \(try modelOptions.path()), \"\(prompt)\", \(seeds) seeds per call, \(steps) steps, "
                + "guidance \(guidance), \(Parallel.threadCount) threads")
        let peakBefore = PeakRate.measure(.fp32) ?? 0
        let (_, flops) = try FlopTally.counting { try pipeline.generate(options) }
        let perEvaluation = flops / Double(seeds * evaluations) / 1e9
        print(String(format: "counted: %.3f GFLOP per generation, %.4f GFLOP per image per UNet evaluation", flops / 1e9, perEvaluation))
        var wall: [Double] = []
        var cpu: [Double] = []
        for r in 0..<repeats {
            let c0 = Self.cpuSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try pipeline.generate(options)
            wall.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            cpu.append(Self.cpuSeconds() - c0)
            print(
                String(
                    format: "run %d: %.3f s wall, %.3f s CPU; %.2f images/s, %.3f CPU s per image, %.1f GFLOP/s wall, %.1f GFLOP per CPU second",
                    r + 1, wall[r], cpu[r], Double(seeds) / wall[r], cpu[r] / Double(seeds), flops / wall[r] / 1e9, flops / cpu[r] / 1e9))
        }
        let peak = max(peakBefore, PeakRate.measure(.fp32) ?? 0)
        let sortedWall = wall.sorted()
        let sortedCPU = cpu.sorted()
        let medianWall = sortedWall[sortedWall.count / 2]
        let medianCPU = sortedCPU[sortedCPU.count / 2]
        print(
            String(
                format: "images/s (wall): median %.2f, range %.2f–%.2f; CPU s per image: median %.3f, range %.3f–%.3f",
                Double(seeds) / medianWall, Double(seeds) / sortedWall.last!, Double(seeds) / sortedWall[0],
                medianCPU / Double(seeds), sortedCPU[0] / Double(seeds), sortedCPU.last! / Double(seeds)))
        print(
            String(format: "GFLOP/s (wall): median %.1f, best %.1f; ", flops / medianWall / 1e9, flops / sortedWall[0] / 1e9)
                + "fp32 peak (\(PeakRate.fp32Instructions), \(Parallel.threadCount) threads) "
                + String(
                    format: "%.1f GFLOP/s: median %.1f %%, best %.1f %%", peak, 100 * flops / medianWall / 1e9 / max(peak, 1e-9),
                    100 * flops / sortedWall[0] / 1e9 / max(peak, 1e-9)))
    }
}
