/// Contiguous Float32 buffer owned by one or more tensors.
///
/// Storage is 64-byte aligned so BLAS and vectorised loops see aligned rows; large buffers come from
/// `LargeBlockCache`. A storage may also wrap memory owned by someone else (a memory-mapped weight
/// file); `owner` keeps that alive.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let ownsMemory: Bool
    private let owner: AnyObject?

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = LargeBlockCache.allocate(byteCount: bytes)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        self.pointer = raw.assumingMemoryBound(to: Float.self)
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
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        self.ownsMemory = true
        self.owner = nil
        MemoryStatistics.shared.allocated(bytes: bytes)
    }

    /// Wraps memory owned by `owner` (kept alive as long as this storage lives).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.ownsMemory = false
        self.owner = owner
    }

    deinit {
        if ownsMemory {
            let bytes = max(count, 1) * MemoryLayout<Float>.stride
            MemoryStatistics.shared.freed(bytes: bytes)
            LargeBlockCache.deallocate(UnsafeMutableRawPointer(pointer), byteCount: bytes)
        }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
