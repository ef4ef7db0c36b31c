import Foundation

/// OpenBLAS's worker threads busy-wait (sched_yield) for 2^28 cycles after every GEMM before they
/// sleep. Between GEMMs sepme runs its own element-wise kernels on every core, so those spinning
/// threads steal time from them (a profile of the toy model's training step shows it as time in the
/// kernel's scheduler); OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles, OpenBLAS's minimum) lets them sleep
/// almost at once. OpenBLAS reads the variable only when the library is loaded, i.e. before
/// `main`, so `shortenThreadSpin()` sets it and re-executes the same program with the same
/// arguments, once. A value the user set is respected; without OpenBLAS, or when the re-exec fails,
/// it does nothing and the process continues unchanged.
public enum OpenBLASSpinTuning {
    public static let variable = "OPENBLAS_THREAD_TIMEOUT"
    /// 2^4 cycles: threads sleep almost at once and are woken for the next GEMM.
    public static let value = "4"

    public static func shortenThreadSpin() {
        guard getenv(variable) == nil else { return }
        guard BLASThreading.isOpenBLAS else { return }
        setenv(variable, value, 1)
        #if os(Linux)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
        #endif
        // Still here: no re-exec (or it failed); the setting applies to child processes only.
    }
}
