import Foundation

/// Counts the floating-point operations of the matrix products run inside `counting` on the calling
/// task: convolutions, linear layers, matmuls and attention (scores and values), 2 per multiply-add, as
/// PyTorch's `torch.utils.flop_counter` counts them: from the shapes, a convolution as its direct sums
/// whatever route runs it; a backward rule counts the products of the gradients it computes (the frozen
/// inputs' none). Normalisation, activations and other elementwise work are not counted. Benchmarks
/// divide a measured time by this count.
public final class FlopTally: @unchecked Sendable {
    @TaskLocal private static var current: FlopTally?
    // @unchecked Sendable: `total` is read and written only under `lock`.
    private let lock = NSLock()
    private var total = 0.0

    private init() {}

    /// Runs `body` and returns its result with the operations it counted.
    public static func counting<T>(_ body: () throws -> T) rethrows -> (result: T, flops: Double) {
        let tally = FlopTally()
        let result = try $current.withValue(tally) { try body() }
        return (result, tally.lock.withLock { tally.total })
    }

    /// Adds `multiplyAdds` multiply-adds (2 operations each) to the current tally, if one is counting.
    static func add(multiplyAdds: Int) {
        guard let tally = current else { return }
        tally.lock.withLock { tally.total += 2 * Double(multiplyAdds) }
    }
}
