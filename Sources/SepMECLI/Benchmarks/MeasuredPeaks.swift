import Foundation
import TensorEngine

/// The fp32 FMA peak (and, for bf16 work where bf16 products pay, the peak of the BF16 instructions they run
/// on) measured at the start of a benchmark, and the counted rate of a timed piece of work as a fraction of them. The work's
/// operations are those `FlopTally` counts: the matrix products (convolutions, linear layers, matmuls,
/// attention), forward only, a convolution as its direct sums whatever its route: Winograd's F(4×4, 3×3)
/// does fewer multiplications, so the counted rate of work that runs it is an equivalent rate and can pass
/// the peak.
struct MeasuredPeaks {
    var fp32: Double?
    var bf16: Double?
    /// The BF16 loop `bf16` was measured with: AMX tile products where `BF16GEMM` runs on AMX, else dot products.
    var bf16Loop = PeakRate.Loop.bf16

    /// Measures the fp32 peak, and when `bf16` is true the peak of the instructions bf16 products run on:
    /// nil where they stay fp32 on this CPU (`BF16Payoff`), so bf16 work is then measured against fp32's.
    static func measure(bf16: Bool) -> MeasuredPeaks {
        let fp32 = PeakRate.measure(.fp32)
        guard bf16, BF16Payoff.verdict.pays else { return MeasuredPeaks(fp32: fp32, bf16: nil) }
        let loop: PeakRate.Loop = BF16Payoff.verdict.path == .amx ? .amx : .bf16
        return MeasuredPeaks(fp32: fp32, bf16: PeakRate.measure(loop), bf16Loop: loop)
    }

    private var bf16Name: String { bf16Loop == .amx ? "AMX-BF16 peak" : "BF16 peak" }

    /// One line per measured peak, as the other `bench` commands print them.
    func printPeaks() {
        print("fp32 peak (\(PeakRate.fp32Instructions), \(Parallel.threadCount) threads): " + Self.peakText(fp32))
        if let bf16 { print((bf16Loop == .amx ? "AMX-BF16 tile-product peak: " : "BF16 dot-product peak: ") + Self.peakText(bf16)) }
        print("rates: the matrix products' operations as direct sums (Winograd's convolutions do fewer), per second")
    }

    /// "`flops` GFLOP counted; " and the rate: a one-line note on a timed piece of work.
    func counted(flops: Double, seconds: Double, precision: ComputePrecision = .fp32) -> String {
        Self.gflop(flops) + " GFLOP counted; " + rate(flops: flops, seconds: seconds, precision: precision)
    }

    /// The rate of `flops` operations in `seconds`, in GFLOP/s and as a percentage of the fp32 peak (of the
    /// BF16 one for `.bf16` work, where it was measured).
    func rate(flops: Double, seconds: Double, precision: ComputePrecision = .fp32) -> String {
        let gflops = flops / Swift.max(seconds, 1e-12) / 1e9
        let (peak, name) = precision == .bf16 && bf16 != nil ? (bf16, bf16Name) : (fp32, "fp32 peak")
        guard let peak, peak > 0 else { return String(format: "%.1f GFLOP/s", gflops) }
        return String(format: "%.1f GFLOP/s, %.0f %% of the ", gflops, 100 * gflops / peak) + name
    }

    /// `flops` in GFLOP: one decimal, or four significant digits below 10 GFLOP (tiny models).
    static func gflop(_ flops: Double) -> String {
        String(format: flops >= 1e10 ? "%.1f" : "%.4g", flops / 1e9)
    }

    private static func peakText(_ value: Double?) -> String {
        value.map { String(format: "%.1f GFLOP/s", $0) } ?? "unavailable"
    }
}
