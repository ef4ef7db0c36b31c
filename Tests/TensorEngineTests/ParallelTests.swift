import Foundation
import XCTest

@testable import TensorEngine

/// `Parallel` on the worker pool (CMatrixKernels/worker_pool.c): every item runs exactly once, loops
/// started from inside a body or from several threads at once finish, and a loop's items run on more
/// than one thread, also after the workers have gone to sleep.
final class ParallelTests: XCTestCase {
    /// Runs `loop` over `count` slots and returns how many times each slot's item ran.
    private func runCounts(_ count: Int, _ loop: (UnsafeMutablePointer<Int>) -> Void) -> [Int] {
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: count)
        runs.initialize(repeating: 0, count: count)
        defer { runs.deallocate() }
        loop(runs)
        return Array(UnsafeBufferPointer(start: runs, count: count))
    }

    func testEveryItemRunsOnce() {
        for count in [2, 3, 7, 64, 1000, 100_003] {
            let runs = runCounts(count) { runs in Parallel.forEach(count) { runs[$0] += 1 } }
            XCTAssertEqual(runs, [Int](repeating: 1, count: count), "forEach(\(count))")
        }
    }

    func testEveryChunkCoversItsItemsOnce() {
        for (count, minChunk) in [(5, 1), (1000, 7), (65_536, 16_384), (100_003, 1000)] {
            let runs = runCounts(count) { runs in
                Parallel.forEachChunk(count, minChunk: minChunk) { chunk in for i in chunk { runs[i] += 1 } }
            }
            XCTAssertEqual(runs, [Int](repeating: 1, count: count), "forEachChunk(\(count), minChunk: \(minChunk))")
        }
    }

    /// A loop inside a body runs its items on the body's thread; both levels cover their items once.
    func testNestedLoopsFinish() {
        let outer = 8
        let inner = 50
        let runs = runCounts(outer * inner) { runs in
            Parallel.forEach(outer) { o in Parallel.forEach(inner) { runs[o * inner + $0] += 1 } }
        }
        XCTAssertEqual(runs, [Int](repeating: 1, count: outer * inner))
    }

    /// Loops started from several threads at once: one holds the pool, the others run on their own
    /// threads; every loop covers its items once.
    func testLoopsFromSeveralThreadsFinish() {
        let callers = 4
        let count = 5000
        let runs = runCounts(callers * count) { runs in
            let slots = SharedSlots(pointer: runs)
            DispatchQueue.concurrentPerform(iterations: callers) { c in
                for _ in 0..<20 { Parallel.forEach(count) { slots.pointer[c * count + $0] += 1 } }
            }
        }
        XCTAssertEqual(runs, [Int](repeating: 20, count: callers * count))
    }

    /// Item 0 waits for item 1 to start: with two or more threads they run at the same time, on different
    /// threads, both right after a loop and after the workers have had time to go to sleep.
    func testItemsRunOnSeveralThreads() throws {
        try XCTSkipIf(Parallel.threadCount < 2, "one thread: nothing runs in parallel")
        for pause in [0.0, 0.05] {
            Thread.sleep(forTimeInterval: pause)
            let lock = NSLock()
            var secondStarted = false
            var overlapped = false
            var threads = [pthread_t](repeating: pthread_self(), count: 2)
            threads.withUnsafeMutableBufferPointer { threads in
                Parallel.forEach(2) { i in
                    threads[i] = pthread_self()
                    guard i == 0 else {
                        lock.withLock { secondStarted = true }
                        return
                    }
                    let deadline = Date().addingTimeInterval(5)
                    while Date() < deadline && !overlapped { overlapped = lock.withLock { secondStarted } }
                }
            }
            XCTAssertTrue(overlapped, "item 1 did not start while item 0 ran (pause \(pause) s)")
            XCTAssertEqual(pthread_equal(threads[0], threads[1]), 0, "both items on one thread (pause \(pause) s)")
        }
    }
}

/// The slots of `testLoopsFromSeveralThreadsFinish`, shared by its callers.
// @unchecked Sendable: each caller writes only its own range of slots.
private struct SharedSlots: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int>
}
