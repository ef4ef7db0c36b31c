import Foundation

/// Whether BF16 products can be faster than fp32 ones on this CPU, decided once per process.
///
/// A BF16 product rounds and packs its activation operand on every call, so it pays only where the
/// processor multiplies bf16 pairs faster than it does fp32 FMAs. That depends on the
/// microarchitecture, not on the instruction set alone: AMD Zen 5 runs `vdpbf16ps` at about twice the
/// operations per second of its fp32 FMA, while Intel Xeons without AMX (Cooper Lake, and Sapphire or
/// Emerald Rapids where the hypervisor hides AMX) run it at about half, so there every bf16 product,
/// attention included, is slower than sepme's fp32 one (docs/benchmarks.md, "Reduced precision"). The
/// verdict is therefore measured on the CPU's best BF16 path:
///
/// - AMX-BF16 tiles: pays (a tile instruction does thousands of products).
/// - AVX-512 BF16: the `vdpbf16ps` and fp32 FMA peak loops (`PeakRate`) are run on one thread, three
///   times each, interleaved (about 3 ms a run), and bf16 pays when its best rate is at least
///   `minimumRateRatio` times fp32's. The two rates sit far on either side of that line on the CPUs above, so load on a shared
///   machine does not flip the verdict.
/// - AVX2 or scalar code (bf16 widened to fp32): never pays.
///
/// `BF16Coverage.whereItPays` sends no product to bf16 where the verdict is that it does not pay;
/// `.everyProduct` ignores the verdict (tests of the bf16 kernels on every CPU).
public enum BF16Payoff {
    /// What was decided and from what.
    public struct Verdict: Sendable, CustomStringConvertible {
        public let pays: Bool
        /// The CPU's best BF16 path (independent of any limit a test sets).
        public let path: BF16GEMM.Path
        /// One-thread peak rates in GFLOP/s (a multiply-add counts 2), where they were measured.
        public let bf16Rate: Double?
        public let fp32Rate: Double?

        /// The rule above: AMX pays; AVX-512 BF16 pays when its dot products reach `minimumRateRatio`
        /// times the fp32 FMA rate; widened bf16 never does.
        init(path: BF16GEMM.Path, bf16Rate: Double? = nil, fp32Rate: Double? = nil) {
            self.path = path
            self.bf16Rate = bf16Rate
            self.fp32Rate = fp32Rate
            switch path {
            case .amx: pays = true
            case .avx512BF16:
                if let bf16Rate, let fp32Rate, fp32Rate > 0 {
                    pays = bf16Rate >= BF16Payoff.minimumRateRatio * fp32Rate
                } else {
                    pays = false
                }
            case .avx2, .scalar: pays = false
            }
        }

        public var description: String {
            var rates = ""
            if let bf16Rate, let fp32Rate, fp32Rate > 0 {
                rates = String(format: ", dot products at %.2f× the fp32 FMA rate", bf16Rate / fp32Rate)
            }
            return pays
                ? "bf16 pays on this CPU (\(path)\(rates))"
                : "bf16 does not pay on this CPU (\(path)\(rates)): bf16 scopes run fp32 products"
        }
    }

    /// The least ratio of BF16 dot-product to fp32 FMA operations per second at which bf16 products pay
    /// (their activations' rounding and packing must be repaid).
    public static let minimumRateRatio = 1.25

    /// The process's verdict, measured on first use (a few tens of milliseconds).
    public static let verdict: Verdict = {
        let path = BF16GEMM.bestPath
        switch path {
        case .amx, .avx2, .scalar:
            return Verdict(path: path)
        case .avx512BF16:
            let bf16Iterations = PeakRate.calibrated(.bf16, lasting: 0.003).iterations
            let fp32Iterations = PeakRate.calibrated(.fp32, lasting: 0.003).iterations
            var bf16 = 0.0
            var fp32 = 0.0
            for _ in 0..<3 {
                bf16 = Swift.max(bf16, PeakRate.timed(.bf16, iterations: bf16Iterations).gflops)
                fp32 = Swift.max(fp32, PeakRate.timed(.fp32, iterations: fp32Iterations).gflops)
            }
            return Verdict(path: path, bf16Rate: bf16, fp32Rate: fp32)
        }
    }()

    /// Tests: the verdict to assume inside `withAssumedVerdict` (nil: the measured one).
    @TaskLocal static var assumed: Bool?

    /// Whether bf16 products pay in the current scope.
    static var pays: Bool { assumed ?? verdict.pays }

    /// Runs `body` as if bf16 products did (or did not) pay on this CPU.
    static func withAssumedVerdict<T>(_ pays: Bool, _ body: () throws -> T) rethrows -> T {
        try $assumed.withValue(pays) { try body() }
    }
}
