import Dispatch
import Foundation

/// Splits `0..<count` into contiguous chunks of at least `minChunk` items and runs them on all cores.
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
        withoutActuallyEscaping(body) { body in
            let task = ConcurrentBody(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = c * size
                let hi = min(count, lo + size)
                if lo < hi { task.run(lo..<hi) }
            }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` in parallel (each item is a sizable piece of work).
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 || threadCount == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let task = ConcurrentBody(body)
            DispatchQueue.concurrentPerform(iterations: count) { i in task.run(i) }
        }
    }
}

/// A loop body shared by the workers of one `concurrentPerform` call, which returns only after every
/// worker is done, so the closure never outlives the `Parallel` call that wraps it.
// @unchecked Sendable: concurrent calls touch disjoint chunks by the `Parallel` contract (see above).
private struct ConcurrentBody<Argument>: @unchecked Sendable {
    let run: (Argument) -> Void
    init(_ run: @escaping (Argument) -> Void) { self.run = run }
}
