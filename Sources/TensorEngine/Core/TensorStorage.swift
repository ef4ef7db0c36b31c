/// Contiguous Float32 buffer owned by one or more tensors.
///
/// Storage is 64-byte aligned so BLAS and vectorised loops see aligned rows; large buffers come from
/// `LargeBlockCache`. A storage may also wrap memory owned by someone else (a memory-mapped weight
/// file); `owner` keeps that alive. A storage that owns its memory can free it before it dies
/// (`release()`, for a weight that a `BF16WeightCache` has replaced by its converted copy); its
/// `pointer` may not be read after that.
public final class TensorStorage: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Float>
    public let count: Int
    private let ownsMemory: Bool
    private let owner: AnyObject?
    /// Whether `release()` has freed the memory.
    public private(set) var isReleased = false

    /// The first element. Reading it after `release()` is a programming error and stops the process.
    @inline(__always) public var pointer: UnsafeMutablePointer<Float> {
        if isReleased { Self.readAfterRelease(count) }
        return base
    }

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let floats = LargeBlockCache.allocate(byteCount: bytes).bindMemory(to: Float.self, capacity: max(count, 1))
        Self.zero(floats, count: max(count, 1))
        self.base = floats
        self.count = count
        self.ownsMemory = true
        self.owner = nil
        MemoryStatistics.shared.allocated(bytes: bytes)
    }

    /// Allocates `count` floats without initialising them (the caller writes every element).
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = LargeBlockCache.allocate(byteCount: bytes)
        self.base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        self.ownsMemory = true
        self.owner = nil
        MemoryStatistics.shared.allocated(bytes: bytes)
    }

    /// Wraps memory owned by `owner` (kept alive as long as this storage lives).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.base = pointer
        self.count = count
        self.ownsMemory = false
        self.owner = owner
    }

    deinit {
        if ownsMemory && !isReleased { free() }
    }

    /// Frees the memory now, before the storage dies, so that later allocations reuse it; `pointer` may
    /// not be read afterwards. Only memory the storage owns is freed: a storage that borrows (a
    /// memory-mapped file) stays readable. Returns whether the memory was freed.
    @discardableResult
    func release() -> Bool {
        guard ownsMemory, !isReleased else { return false }
        free()
        isReleased = true
        return true
    }

    private func free() {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        MemoryStatistics.shared.freed(bytes: bytes)
        LargeBlockCache.deallocate(UnsafeMutableRawPointer(base), byteCount: bytes)
    }

    /// Zero-fills `count` floats, on every worker from a MiB up: the first write to memory the process has
    /// never touched faults its pages in (building a model writes its weights' zeros into fresh memory
    /// before they are loaded), and the kernel serves two faulting threads about twice as fast as one.
    private static func zero(_ floats: UnsafeMutablePointer<Float>, count: Int) {
        // Below two chunks of a MiB, `forEachChunk` runs the whole range on this thread.
        guard Parallel.threadCount > 1 else {
            floats.initialize(repeating: 0, count: count)
            return
        }
        Parallel.forEachChunk(count, minChunk: 1 << 18) { range in
            (floats + range.lowerBound).initialize(repeating: 0, count: range.count)
        }
    }

    @inline(never)
    private static func readAfterRelease(_ count: Int) -> Never {
        preconditionFailure(
            "a tensor storage of \(count) floats was read after its memory was released (a weight that a "
                + "BF16WeightCache of retention .copiesReplacingWeights replaced by its bf16 copy, read as fp32)")
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
