import CMatrixKernels
import Foundation

/// Splits `0..<count` into contiguous chunks of at least `minChunk` items and runs them on all cores: the
/// calling thread and `threadCount - 1` workers of a pool (CMatrixKernels/worker_pool.c) that spin a short
/// while between loops before they sleep, so that back-to-back short loops do not pay a thread wake-up
/// each. A loop started while another runs (from inside a body, or from another thread) runs its items on
/// the calling thread.
///
/// Contract for every `body` handed to this type: calls made for different chunks (or items) may run at
/// the same time, so each call writes only memory that belongs to its own chunk (or item) and reads only
/// memory that no call writes. Both functions return after every call has finished.
public enum Parallel {
    /// Number of worker threads (defaults to the active processor count; `SEPME_THREADS` overrides).
    public static let threadCount: Int = {
        if let s = ProcessInfo.processInfo.environment["SEPME_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    public static func forEachChunk(_ count: Int, minChunk: Int = 16_384, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threadCount * 4, max(1, count / max(minChunk, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        let size = (count + chunks - 1) / chunks
        forEach(chunks) { c in
            let lo = c * size
            let hi = min(count, lo + size)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` in parallel (each item is a sizable piece of work).
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 || threadCount == 1 {
            for i in 0..<count { body(i) }
            return
        }
        _ = workers
        withoutActuallyEscaping(body) { body in
            var item = body
            let ran = withUnsafeMutablePointer(to: &item) { sepme_pool_run(count, runItem, $0) }
            if ran == 0 { for i in 0..<count { body(i) } }
        }
    }

    /// The pool's workers, started on first use.
    private static let workers = sepme_pool_start(Int32(threadCount - 1))
}

/// The pool's entry into a `Parallel.forEach` body: `context` points at the `(Int) -> Void` closure, which
/// `sepme_pool_run` calls only before it returns, so the closure never outlives its `forEach` call.
private func runItem(_ context: UnsafeMutableRawPointer?, _ item: Int) {
    context?.assumingMemoryBound(to: ((Int) -> Void).self).pointee(item)
}
