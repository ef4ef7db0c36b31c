import Dispatch
import Foundation
import TensorEngine

/// What a parallel loop costs beyond its items: back-to-back loops of one item per thread, each item a
/// dependent xorshift chain of a given length, on the engine's `Parallel` (the worker pool) against
/// libdispatch's `concurrentPerform` (what `Parallel` ran on before the pool) and against the calling
/// thread alone, interleaved in rounds. A gap of serial work on the calling thread may separate the
/// loops, as the work between a forward pass's parallel operations does.
struct ParallelBenchmark {
    /// Minimum seconds per measurement (the fastest of the rounds is reported).
    let seconds: Double
    /// Measurement rounds, each running the three ways once.
    let rounds: Int

    /// The ways a loop of `threads` items runs.
    private enum Way: CaseIterable {
        case pool, dispatch, callingThread

        var label: String {
            switch self {
            case .pool: "Parallel (worker pool)"
            case .dispatch: "concurrentPerform"
            case .callingThread: "calling thread alone"
            }
        }
    }

    func run() {
        let threads = Parallel.threadCount
        print("threads \(threads); one item per thread per loop; microseconds per loop, fastest of \(rounds) rounds")
        guard threads > 1 else {
            print("one thread: every loop runs on the calling thread")
            return
        }
        let chain = chainLength(lastingMicroseconds: 1)
        print(column("case", 40) + Way.allCases.map { column($0.label, 24) }.joined() + "pool / concurrentPerform")
        for itemMicroseconds in [1, 10, 100] {
            for gapMicroseconds in [0, itemMicroseconds] {
                let item = chain * itemMicroseconds
                let gap = chain * gapMicroseconds
                var best = [Way: Double]()
                for _ in 0..<rounds {
                    for way in Way.allCases {
                        let time = microsecondsPerLoop(way, threads: threads, item: item, gap: gap)
                        best[way] = Swift.min(best[way] ?? .infinity, time)
                    }
                }
                let name = "items of \(itemMicroseconds) µs, gap \(gapMicroseconds) µs"
                let cells = Way.allCases.map { column(String(format: "%.2f", best[$0] ?? 0), 24) }.joined()
                let ratio = (best[.pool] ?? 0) / Swift.max(best[.dispatch] ?? 1, 1e-12)
                print(column(name, 40) + cells + String(format: "%.2f", ratio))
            }
        }
    }

    /// Iterations of `chain` that take about `microseconds` on the calling thread.
    private func chainLength(lastingMicroseconds microseconds: Double) -> Int {
        var iterations = 1 << 16
        var elapsed = 0.0
        while elapsed < 0.02 && iterations < 1 << 30 {
            iterations *= 2
            let start = DispatchTime.now().uptimeNanoseconds
            sink(Self.chain(iterations, seed: 0))
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        return Swift.max(1, Int(Double(iterations) * microseconds * 1e-6 / Swift.max(elapsed, 1e-9)))
    }

    /// Loops of `threads` items of `item` iterations, each followed by `gap` iterations on the calling
    /// thread, for at least `seconds`; microseconds per loop.
    private func microsecondsPerLoop(_ way: Way, threads: Int, item: Int, gap: Int) -> Double {
        let results = UnsafeMutablePointer<UInt64>.allocate(capacity: threads)
        results.initialize(repeating: 0, count: threads)
        defer { results.deallocate() }
        let shared = SharedResults(pointer: results)
        var loops = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            for _ in 0..<16 {
                switch way {
                case .pool: Parallel.forEach(threads) { results[$0] = Self.chain(item, seed: $0) }
                case .dispatch: DispatchQueue.concurrentPerform(iterations: threads) { shared.pointer[$0] = Self.chain(item, seed: $0) }
                case .callingThread: for t in 0..<threads { results[t] = Self.chain(item, seed: t) }
                }
                if gap > 0 { sink(Self.chain(gap, seed: loops)) }
            }
            loops += 16
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        for t in 0..<threads { sink(results[t]) }
        return elapsed / Double(loops) * 1e6
    }

    /// A dependent chain of `iterations` xorshift steps from `seed` (no memory traffic; distinct seeds keep
    /// the optimiser from merging the items of one loop).
    @inline(never)
    private static func chain(_ iterations: Int, seed: Int) -> UInt64 {
        var s = UInt64(truncatingIfNeeded: seed &* 2 &+ 1)
        for _ in 0..<iterations {
            s ^= s << 13
            s ^= s >> 7
            s ^= s << 17
        }
        return s
    }

    /// Keeps a result alive.
    @inline(never)
    private func sink(_ value: UInt64) { if value == 0 { print("") } }
}

/// The results array handed to `concurrentPerform`, each item writing its own element.
// @unchecked Sendable: every item writes a distinct element; the caller reads after the loop returns.
private struct SharedResults: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt64>
}
