import ArgumentParser
import Diffusion
import Foundation
import TensorEngine

/// `sepme bench erase-step`: one SepME iteration next to the reference way, with peak memory.
struct BenchEraseStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase-step",
        abstract: "Time one SepME training iteration against the reference layout (4 forwards + 2 backwards, two model copies).")

    @Option(help: "'sd14' or the path of a diffusers unet config.json.") var config = "sd14"
    @Option(help: "Latent height and width (64 for 512x512 images).") var size = 64
    @Option(help: "Timed repetitions of each way (after one warm-up); the fastest is reported.") var repeats = 1

    func run() throws {
        let configuration: UNet2DConditionConfiguration = config == "sd14" ? .sd14 : try .load(from: URL(fileURLWithPath: config))
        let bench = EraseStepBenchmark(configuration: configuration, size: size, repeats: repeats)
        let r = try bench.run { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        func gb(_ b: Int) -> String { String(format: "%.2f GB", Double(b) / 1e9) }
        print("SepME iteration, config \(config), \(size)x\(size) latent, batch 1, fp32, \(Parallel.threadCount) threads; null space dimension \(r.nullSpaceDimension)")
        print(String(format: "  sepme:     %8.3f s   peak tensor memory %@ (one UNet)", r.sepme.seconds, gb(r.sepme.peakTensorBytes)))
        print(String(format: "  reference: %8.3f s   peak tensor memory %@ (two UNets)", r.reference.seconds, gb(r.reference.peakTensorBytes)))
        print(String(format: "  ratio sepme/reference: %.2f (target <= 0.60)", r.sepme.seconds / r.reference.seconds))
        print("  process peak resident (VmHWM, both phases): \(MemoryStatistics.processPeakResidentBytes().map(gb) ?? "unavailable")")
    }
}
