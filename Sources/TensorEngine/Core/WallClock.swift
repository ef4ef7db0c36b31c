import Foundation

/// How benchmarks and cost estimates time a piece of work: the fastest of repeated calls, since a
/// shared machine only ever adds time to a call.
public enum WallClock {
    /// Wall seconds of the fastest of `repeats` calls of `body` (at least one call).
    public static func fastest(of repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<Swift.max(1, repeats) {
            let start = Date()
            try body()
            best = Swift.min(best, Date().timeIntervalSince(start))
        }
        return best
    }
}
