import Foundation

/// Wall time of each backward rule, summed by operation and gradient shape, while a body runs
/// (`Tensor.profilingBackward`): where a backward pass spends its time, for `bench unet
/// --profile-backward`. Off by default; when on, `backward` reads the clock around each rule.
public struct BackwardProfile: Sendable {
    /// One operation at one gradient shape: its rule's calls and their summed wall time.
    public struct Entry: Sendable {
        public var operation: String
        public var gradientShape: [Int]
        public var calls: Int
        public var seconds: Double
    }

    /// Entries, the slowest first.
    public var entries: [Entry]

    /// Summed time of every rule.
    public var totalSeconds: Double { entries.reduce(0) { $0 + $1.seconds } }

    /// The entries' total per operation (every gradient shape together), the slowest first.
    public var byOperation: [(operation: String, calls: Int, seconds: Double)] {
        var sums: [String: (calls: Int, seconds: Double)] = [:]
        for e in entries {
            let s = sums[e.operation] ?? (0, 0)
            sums[e.operation] = (s.calls + e.calls, s.seconds + e.seconds)
        }
        return sums.map { ($0.key, $0.value.calls, $0.value.seconds) }.sorted { $0.seconds > $1.seconds }
    }
}

/// The recorder `backward` writes to; present only inside `Tensor.profilingBackward`.
final class BackwardProfileRecorder: @unchecked Sendable {
    // Written only by `profilingBackward` and by `backward` on the thread that runs the body.
    nonisolated(unsafe) static var current: BackwardProfileRecorder?

    private struct Key: Hashable {
        let operation: String
        let shape: [Int]
    }
    private var sums: [Key: (calls: Int, nanoseconds: UInt64)] = [:]

    func record(_ operation: String, gradientShape: [Int], nanoseconds: UInt64) {
        let key = Key(operation: operation, shape: gradientShape)
        let s = sums[key] ?? (0, 0)
        sums[key] = (s.calls + 1, s.nanoseconds + nanoseconds)
    }

    var profile: BackwardProfile {
        BackwardProfile(
            entries: sums.map {
                BackwardProfile.Entry(
                    operation: $0.key.operation, gradientShape: $0.key.shape, calls: $0.value.calls,
                    seconds: Double($0.value.nanoseconds) / 1e9)
            }.sorted { $0.seconds > $1.seconds })
    }
}

extension Tensor {
    /// Runs `body`, timing every backward rule it runs (on the calling thread), and returns its result
    /// with the profile. Not nested, and not while another thread runs a backward pass.
    public static func profilingBackward<T>(_ body: () throws -> T) rethrows -> (T, BackwardProfile) {
        let recorder = BackwardProfileRecorder()
        let previous = BackwardProfileRecorder.current
        BackwardProfileRecorder.current = recorder
        defer { BackwardProfileRecorder.current = previous }
        let result = try body()
        return (result, recorder.profile)
    }
}
