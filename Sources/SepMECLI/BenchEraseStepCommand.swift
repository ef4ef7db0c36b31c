import ArgumentParser
import Diffusion
import Foundation
import TensorEngine

/// `sepme bench erase-step`: one SepME iteration next to the reference way, with peak memory.
struct BenchEraseStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase-step",
        abstract: "Time one SepME training iteration against the reference layout (4 forwards + 2 backwards, two model copies).",
        discussion: """
            The reference layout is timed twice: lean (its backward fills only A's gradient) and as the \
            authors' script runs it (the edited UNet's weights are never frozen, so its backward also fills \
            the gradient of every UNet weight).
            """)

    @Option(
        help: ArgumentHelp(
            BenchModelConfiguration.help
                + " The text encoders are random CLIP ViT-L/14 (cross_attention_dim 768), or for a text_time UNet SDXL's CLIP ViT-L/14 and OpenCLIP bigG (2048), one layer deep (they only make the prompts' embeddings)."
        ))
    var config = "sd14"
    @Flag(help: "Time sepme's iteration only, not the reference layout (which holds a second copy of the UNet).")
    var sepmeOnly = false
    @Option(help: "Latent height and width (64 for 512x512 images).") var size = 64
    @Option(help: "Timed repetitions of each way (after one warm-up); the fastest is reported.") var repeats = 1
    @OptionGroup var precisionOption: PrecisionOption
    @Flag(help: "Print the figures as JSON (seconds, peak tensor bytes, ratios) instead of a table.") var json = false

    func validate() throws {
        try FlagCheck.nonEmpty("--config", config)
        try FlagCheck.range("--size", size, 1...BenchLimits.maxLatentSize)
        try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats)
    }

    func run() throws { try CommandFailure.reporting { try measure() } }

    private func measure() throws {
        let configuration = try BenchModelConfiguration.unet(config)
        // Two UNets' activations with their graph (the reference layout's four forwards), or sepme's three evaluations.
        try BenchLimits.checkMemory("--size \(size)", configuration: configuration, size: size, batch: sepmeOnly ? 3 : 4)
        let bench = EraseStepBenchmark(
            configuration: configuration, size: size, repeats: repeats, originalPrecision: precisionOption.precision,
            includesReference: !sepmeOnly)
        let peaks = MeasuredPeaks.measure(bf16: false)
        let r = try bench.run { StandardError.write($0 + "\n") }
        if json {
            struct Report: Encodable {
                let config: String, size: Int, threads: Int
                let result: EraseStepBenchmark.Result
                let ratioToScriptedReference: Double?, ratioToLeanReference: Double?
                let processPeakResidentBytes: Int?
                let fp32PeakGFLOPS: Double?
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = Report(
                config: config, size: size, threads: Parallel.threadCount, result: r,
                ratioToScriptedReference: r.ratioToScriptedReference, ratioToLeanReference: r.ratioToLeanReference,
                processPeakResidentBytes: MemoryStatistics.processPeakResidentBytes(), fp32PeakGFLOPS: peaks.fp32)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        func gb(_ b: Int) -> String { String(format: "%.2f GB", Double(b) / 1e9) }
        print(
            "SepME iteration, config \(config), \(size)x\(size) latent, batch 1, fp32 (sepme's original predictions \(precisionOption.precision.rawValue)), \(Parallel.threadCount) threads; null space dimension \(r.nullSpaceDimension)\(precisionOption.verdictSuffix)"
        )
        peaks.printPeaks()
        // The counted operations and their rate against the fp32 peak (sepme's original predictions may be bf16).
        func rate(_ f: EraseStepBenchmark.Figures) -> String { "; " + peaks.counted(flops: f.flops, seconds: f.seconds) }
        print(
            String(format: "  sepme:                  %8.3f s   peak tensor memory %@ (one UNet", r.sepme.seconds, gb(r.sepme.peakTensorBytes))
                + rate(r.sepme) + ")")
        if let lean = r.leanReference, let scripted = r.scriptedReference, let toLean = r.ratioToLeanReference,
            let toScripted = r.ratioToScriptedReference
        {
            print(
                String(
                    format: "  reference, lean:        %8.3f s   peak tensor memory %@ (two UNets; backward into A only",
                    lean.seconds, gb(lean.peakTensorBytes)) + rate(lean) + ")")
            print(
                String(
                    format:
                        "  reference, as scripted: %8.3f s   peak tensor memory %@ (two UNets; backward also fills every UNet weight's gradient",
                    scripted.seconds, gb(scripted.peakTensorBytes)) + rate(scripted) + ")")
            print(String(format: "  ratio sepme/reference as scripted: %.2f", toScripted))
            print(String(format: "  ratio sepme/reference lean:        %.2f", toLean))
        }
        print("  process peak resident (VmHWM, both phases): \(MemoryStatistics.processPeakResidentBytes().map(gb) ?? "unavailable")")
    }
}
