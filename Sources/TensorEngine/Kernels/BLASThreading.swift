import Foundation

/// Work items that each run small GEMMs: OpenBLAS threads split such GEMMs poorly and, when the
/// items themselves run in parallel, oversubscribe the cores (and busy-wait between calls). So when
/// the linked BLAS is OpenBLAS (found at run time with dlsym; the package links the generic `blas`),
/// its thread count is set to 1 (and `SGEMMKernel` runs each product on its calling thread) while the
/// items run on `Parallel.forEach`. Without OpenBLAS, or
/// with one item or one thread, the items run serially and BLAS threads each GEMM.
public enum BLASThreading {
    /// OpenBLAS's thread-count controls, if the process has them.
    private struct OpenBLASThreads: @unchecked Sendable {
        typealias SetThreads = @convention(c) (Int32) -> Void
        typealias GetThreads = @convention(c) () -> Int32
        let set: SetThreads
        let get: GetThreads

        static let shared: OpenBLASThreads? = {
            let process = dlopen(nil, RTLD_NOW)
            guard let s = dlsym(process, "openblas_set_num_threads"),
                let g = dlsym(process, "openblas_get_num_threads")
            else { return nil }
            return OpenBLASThreads(set: unsafeBitCast(s, to: SetThreads.self), get: unsafeBitCast(g, to: GetThreads.self))
        }()
    }

    /// True when the linked BLAS is OpenBLAS.
    static var isOpenBLAS: Bool { OpenBLASThreads.shared != nil }

    /// True when items can run in parallel on single-threaded BLAS.
    static var canRunItemsInParallel: Bool { isOpenBLAS && Parallel.threadCount > 1 }

    /// Runs `body(i)` for `i` in `0..<count` (see the type's comment).
    public static func forEachItem(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1, let blas = OpenBLASThreads.shared else {
            for i in 0..<count { body(i) }
            return
        }
        let previous = blas.get()
        blas.set(1)
        defer { blas.set(previous) }
        SGEMMKernel.serially { Parallel.forEach(count, body) }
    }
}
