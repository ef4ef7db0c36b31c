import CMatrixKernels
import Dispatch

/// The machine's measured arithmetic peak: independent multiply-add chains (no memory traffic) run on
/// `Parallel.threadCount` threads at once, in C with the widest instructions the CPU has (picked at run
/// time): fp32 FMA with AVX-512F, AVX2 + FMA or scalar code, the BF16 dot product (vdpbf16ps) where the
/// CPU has AVX-512 BF16, and the AMX-BF16 tile product where the CPU has AMX. A multiply-add counts as 2
/// floating-point operations.
public enum PeakRate {
    public enum Loop: Int32, Sendable {
        /// fp32 fused multiply-add.
        case fp32 = 0
        /// BF16 pair dot products into fp32 sums (vdpbf16ps).
        case bf16 = 1
        /// BF16 tile products into fp32 tiles (AMX tdpbf16ps).
        case amx = 2
    }

    /// The instructions of the fp32 loop on this CPU.
    public static var fp32Instructions: String {
        switch sepme_peak_fp32_isa() {
        case 3: "AVX-512F FMA"
        case 2: "AVX2 FMA"
        default: "scalar multiply and add"
        }
    }

    /// True when the CPU has AVX-512 BF16 (the `bf16` loop and the fast `BF16GEMM` path).
    public static var hasBF16DotProduct: Bool { sepme_cpu_has_avx512_bf16() != 0 }

    /// True when the CPU has AMX-BF16 and the OS granted it (the `amx` loop and the tile `BF16GEMM` path).
    public static var hasAMX: Bool { sepme_cpu_has_amx_bf16() != 0 }

    /// GFLOP/s of `loop` on `threads` threads at once: the best of `repeats` runs of about `seconds`
    /// each (the iteration count is calibrated on one thread first). nil when the CPU lacks the loop's
    /// instructions.
    public static func measure(
        _ loop: Loop, threads: Int = Parallel.threadCount, seconds: Double = 0.25, repeats: Int = 3
    ) -> Double? {
        switch loop {
        case .fp32: break
        case .bf16: guard hasBF16DotProduct else { return nil }
        case .amx: guard hasAMX else { return nil }
        }
        let threads = Swift.max(1, threads)
        let (iterations, single) = calibrated(loop, lasting: 0.02)
        let target = Swift.max(1, Int(Double(iterations) * Swift.max(seconds, 0.001) / Swift.max(single, 1e-9)))
        var best = 0.0
        for _ in 0..<Swift.max(1, repeats) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let flops = run(loop, iterations: target, threads: threads)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = Swift.max(best, flops / dt / 1e9)
        }
        return best
    }

    /// The iteration count at which one run of `loop` on the calling thread takes at least `seconds`
    /// (grown from 2^16 by factors of 4, at most 2^34), and that run's seconds.
    static func calibrated(_ loop: Loop, lasting seconds: Double) -> (iterations: Int, seconds: Double) {
        var iterations = 1 << 16
        while true {
            let run = timed(loop, iterations: iterations)
            if run.seconds >= seconds || iterations >= 1 << 34 { return (iterations, run.seconds) }
            iterations *= 4
        }
    }

    /// One run of `loop` on the calling thread: GFLOP/s and seconds.
    static func timed(_ loop: Loop, iterations: Int) -> (gflops: Double, seconds: Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let flops = sepme_peak_loop(loop.rawValue, iterations)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return (seconds > 0 ? flops / seconds / 1e9 : 0, seconds)
    }

    /// Runs the loop on `threads` threads at once; returns the operations done in all.
    private static func run(_ loop: Loop, iterations: Int, threads: Int) -> Double {
        let counts = UnsafeMutablePointer<Double>.allocate(capacity: threads)
        counts.initialize(repeating: 0, count: threads)
        defer { counts.deallocate() }
        // On the kernels' threads (`Parallel`), one loop each.
        Parallel.forEach(threads) { t in counts[t] = sepme_peak_loop(loop.rawValue, iterations) }
        var total = 0.0
        for t in 0..<threads { total += counts[t] }
        return total
    }
}
