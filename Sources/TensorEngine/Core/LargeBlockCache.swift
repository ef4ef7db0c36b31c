import Foundation

/// Keeps freed large buffers (tensor storage, packed operands, kernel scratch of at least
/// `minimumBytes`) for the next request of the same size, so that a loop which allocates the same
/// activation sizes every step (diffusion steps, training iterations, the convolutions of a decoder)
/// reuses memory whose pages are already mapped instead of asking the kernel for fresh zeroed pages
/// each time. glibc maps every block above its mmap threshold (at most 32 MiB) on its own and unmaps
/// it on free, and a 512 × 512 decoder activation is 134 MB.
///
/// Blocks are mapped directly (`mmap`, page-aligned) and matched by exact size (rounded up to a
/// page), most recently freed first. The cache never lets the bytes it maps exceed the peak of the
/// bytes in use seen so far, counting the request at hand: on a miss it unmaps the oldest cached blocks
/// until the new block fits under that bound, so the process's peak resident memory stays what it
/// would be without the cache. `release()` unmaps every cached block. `SEPME_BLOCK_CACHE=off` (read
/// once) sends every request to the system allocator instead.
///
/// The same role as PyTorch's caching allocator (c10/cuda/CUDACachingAllocator.cpp), on the CPU.
public final class LargeBlockCache: @unchecked Sendable {
    public static let shared = LargeBlockCache(
        enabled: ProcessInfo.processInfo.environment["SEPME_BLOCK_CACHE"]?.lowercased() != "off")

    /// Requests below this size go to the system allocator.
    public static let minimumBytes = 1 << 20

    private static let pageBytes = 4096

    private let lock = NSLock()
    private let enabled: Bool
    /// Freed blocks, oldest first.
    private var cachedBlocks: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []
    private var cachedBytes = 0
    private var liveBytes = 0
    private var peakLiveBytes = 0
    /// Blocks that came from the system allocator because a mapping was refused.
    private var systemBlocks: Set<UnsafeMutableRawPointer> = []
    private var hits = 0
    private var misses = 0

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// Counters since the process started: blocks served from the cache and blocks newly mapped.
    public var statistics: (hits: Int, misses: Int, cachedBytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (hits, misses, cachedBytes)
    }

    /// `byteCount` bytes aligned to at least 64 bytes, uninitialised (a reused block holds old data).
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        guard byteCount >= minimumBytes, shared.enabled else {
            return .allocate(byteCount: Swift.max(byteCount, 1), alignment: 64)
        }
        return shared.take(bytes: roundedSize(byteCount))
    }

    /// Returns a block from `allocate(byteCount:)` with the same `byteCount`.
    public static func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= minimumBytes, shared.enabled {
            shared.give(pointer, bytes: roundedSize(byteCount))
        } else {
            pointer.deallocate()
        }
    }

    /// `count` floats, uninitialised: kernel scratch.
    public static func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        allocate(byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride).bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// Returns a buffer from `allocateFloats` with the same `count`.
    public static func deallocateFloats(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        deallocate(UnsafeMutableRawPointer(pointer), byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride)
    }

    /// Unmaps every cached block.
    public func release() {
        lock.lock()
        let blocks = cachedBlocks
        cachedBlocks.removeAll()
        cachedBytes = 0
        lock.unlock()
        for block in blocks { munmap(block.pointer, block.bytes) }
    }

    private static func roundedSize(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }

    /// A block of `bytes` (a multiple of the page size), from the cache when one of that size is there,
    /// else newly mapped. Where the system refuses the mapping even after the cache is emptied, the block
    /// comes from the system allocator (which reports an exhausted memory as it does for any allocation)
    /// and is remembered, so that `give` frees it the same way.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        var evicted: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []
        lock.lock()
        if let index = cachedBlocks.lastIndex(where: { $0.bytes == bytes }) {
            let block = cachedBlocks.remove(at: index)
            cachedBytes -= bytes
            liveBytes += bytes
            hits += 1
            lock.unlock()
            return block.pointer
        }
        let bound = Swift.max(peakLiveBytes, liveBytes + bytes)
        var dropped = 0
        while dropped < cachedBlocks.count, liveBytes + cachedBytes + bytes > bound {
            evicted.append(cachedBlocks[dropped])
            cachedBytes -= cachedBlocks[dropped].bytes
            dropped += 1
        }
        cachedBlocks.removeFirst(dropped)
        misses += 1
        lock.unlock()
        for block in evicted { munmap(block.pointer, block.bytes) }
        var mapped = Self.map(bytes)
        if mapped == nil {
            release()
            mapped = Self.map(bytes)
        }
        let block = mapped ?? .allocate(byteCount: bytes, alignment: 64)
        lock.lock()
        if mapped == nil { systemBlocks.insert(block) }
        liveBytes += bytes
        peakLiveBytes = Swift.max(peakLiveBytes, liveBytes)
        lock.unlock()
        return block
    }

    private static func map(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        else { return nil }
        return mapped
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        lock.lock()
        liveBytes -= bytes
        if systemBlocks.remove(pointer) != nil {
            lock.unlock()
            pointer.deallocate()
            return
        }
        guard enabled else {
            lock.unlock()
            munmap(pointer, bytes)
            return
        }
        cachedBlocks.append((bytes, pointer))
        cachedBytes += bytes
        lock.unlock()
    }
}
