import Foundation
import TensorEngine

/// The fp32 FMA peak (and, where asked for and the CPU has it, the BF16 dot-product peak) measured at the
/// start of a benchmark, and the counted rate of a timed piece of work as a fraction of them. The work's
/// operations are those `FlopTally` counts: the matrix products (convolutions, linear layers, matmuls,
/// attention), forward only, a convolution as its direct sums whatever its route: Winograd's F(4×4, 3×3)
/// does fewer multiplications, so the counted rate of work that runs it is an equivalent rate and can pass
/// the peak.
struct MeasuredPeaks {
    var fp32: Double?
    var bf16: Double?

    /// Measures the fp32 peak, and the BF16 one when `bf16` is true (nil where the CPU lacks AVX-512 BF16).
    static func measure(bf16: Bool) -> MeasuredPeaks {
        MeasuredPeaks(fp32: PeakRate.measure(.fp32), bf16: bf16 ? PeakRate.measure(.bf16) : nil)
    }

    /// One line per measured peak, as the other `bench` commands print them.
    func printPeaks() {
        print("fp32 peak (\(PeakRate.fp32Instructions), \(Parallel.threadCount) threads): " + Self.peakText(fp32))
        if let bf16 { print("BF16 dot-product peak: " + Self.peakText(bf16)) }
        print("rates: the matrix products' operations as direct sums (Winograd's convolutions do fewer), per second")
    }

    /// "`flops` GFLOP counted; " and the rate: a one-line note on a timed piece of work.
    func counted(flops: Double, seconds: Double, precision: ComputePrecision = .fp32) -> String {
        Self.gflop(flops) + " GFLOP counted; " + rate(flops: flops, seconds: seconds, precision: precision)
    }

    /// The rate of `flops` operations in `seconds`, in GFLOP/s and as a percentage of the fp32 peak (of the
    /// BF16 peak for `.bf16` work, where it was measured).
    func rate(flops: Double, seconds: Double, precision: ComputePrecision = .fp32) -> String {
        let gflops = flops / Swift.max(seconds, 1e-12) / 1e9
        let (peak, name) = precision == .bf16 && bf16 != nil ? (bf16, "BF16 peak") : (fp32, "fp32 peak")
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
