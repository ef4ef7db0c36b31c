import CMatrixKernels
import Foundation

/// Keeps freed large buffers (tensor storage, packed operands, kernel scratch of at least
/// `minimumBytes`) for the next request, so that a loop which allocates the same activation sizes every
/// step (diffusion steps, training iterations, the convolutions of a decoder) reuses memory whose pages
/// are already mapped instead of asking the kernel for fresh zeroed pages each time. glibc maps every
/// block at or above its mmap threshold (at most 32 MiB, the value `AllocatorTuning` sets) on its own
/// and unmaps it on free, and a 512 × 512 decoder activation is 134 MB; smaller blocks stay with glibc,
/// whose heap already reuses them.
///
/// Blocks are mapped directly (`mmap`, page-aligned), advised for transparent huge pages: a fresh
/// block's first touch then costs one fault and one clear per 2 MiB instead of per 4 KiB page. A request takes a cached block of its size
/// (rounded up to a page), most recently freed first; failing that, a cached block of another size
/// resized with `mremap` (only the pages it grows by are faulted in); failing that, a new mapping. The
/// cache never lets the bytes it maps exceed the peak of the bytes in use seen so far, counting the
/// request at hand: it unmaps the oldest cached blocks until the request fits under that bound, so the
/// process's peak resident memory stays what it would be without the cache. `release()` unmaps every
/// cached block. `SEPME_BLOCK_CACHE=off` (read once) sends every request to the system allocator.
///
/// The same role as PyTorch's caching allocator (c10/cuda/CUDACachingAllocator.cpp), on the CPU.
public final class LargeBlockCache: @unchecked Sendable {
    public static let shared = LargeBlockCache(
        enabled: ProcessInfo.processInfo.environment["SEPME_BLOCK_CACHE"]?.lowercased() != "off")

    /// Requests below this size go to the system allocator.
    public static let minimumBytes = 32 << 20

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
    private var resizes = 0
    private var movedBlocks = 0

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// Counters since the process started: requests served by a cached block of their size, requests
    /// that found none (`resized` of them served by resizing a cached block of another size, taking in
    /// `moved` other cached blocks all told), and the bytes now cached.
    public var statistics: (hits: Int, misses: Int, resized: Int, moved: Int, cachedBytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (hits, misses, resizes, movedBlocks, cachedBytes)
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

    /// A block of `bytes` (a multiple of the page size): a cached block of that size when there is one;
    /// else a cached block of another size resized (`mremap`: the pages it keeps stay resident, only
    /// growth is faulted in), the smallest larger one or else the largest; a block that must grow takes
    /// in the pages of other cached blocks that fit in its growth, largest first (`sepme_block_move`),
    /// so that blocks freed at one size serve a larger request without touching fresh memory (the
    /// weights a `BF16WeightCache` releases becoming the larger transformed weights of its Winograd
    /// convolutions); else a new mapping. Where the system refuses even after the cache is emptied, the
    /// block comes from the system allocator (which reports an exhausted memory as it does for any
    /// allocation) and is remembered, so that `give` frees it the same way.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        if let index = cachedBlocks.lastIndex(where: { $0.bytes == bytes }) {
            let block = cachedBlocks.remove(at: index)
            cachedBytes -= bytes
            liveBytes += bytes
            hits += 1
            lock.unlock()
            return block.pointer
        }
        misses += 1
        var donor: (bytes: Int, pointer: UnsafeMutableRawPointer)?
        let larger = cachedBlocks.indices.filter { cachedBlocks[$0].bytes > bytes }
        if let index = larger.min(by: { cachedBlocks[$0].bytes < cachedBlocks[$1].bytes })
            ?? cachedBlocks.indices.max(by: { cachedBlocks[$0].bytes < cachedBlocks[$1].bytes })
        {
            let block = cachedBlocks.remove(at: index)
            cachedBytes -= block.bytes
            donor = block
        }
        let parts = donor.map { takeParts(filling: bytes - $0.bytes) } ?? []
        let bound = Swift.max(peakLiveBytes, liveBytes + bytes)
        var dropped = 0
        while dropped < cachedBlocks.count, liveBytes + cachedBytes + bytes > bound {
            cachedBytes -= cachedBlocks[dropped].bytes
            dropped += 1
        }
        let evicted = cachedBlocks.prefix(dropped)
        cachedBlocks.removeFirst(dropped)
        liveBytes += bytes
        peakLiveBytes = Swift.max(peakLiveBytes, liveBytes)
        lock.unlock()
        for block in evicted { munmap(block.pointer, block.bytes) }
        if let donor {
            if let resized = sepme_block_resize(donor.pointer, donor.bytes, bytes) {
                var offset = donor.bytes
                var moved = 0
                for part in parts {
                    // A part that cannot move leaves fresh pages at its place in the block.
                    if sepme_block_move(part.pointer, part.bytes, resized + offset) == 1 {
                        moved += 1
                    } else {
                        munmap(part.pointer, part.bytes)
                    }
                    offset += part.bytes
                }
                lock.lock()
                resizes += 1
                movedBlocks += moved
                lock.unlock()
                return resized
            }
            // Refused: among other cases, a block assembled from several mappings cannot grow by mremap
            // (nor be moved into another); its pages go back to the system and a new mapping serves.
            munmap(donor.pointer, donor.bytes)
            for part in parts { munmap(part.pointer, part.bytes) }
        }
        var mapped = Self.map(bytes)
        if mapped == nil {
            release()
            mapped = Self.map(bytes)
        }
        guard let mapped else {
            let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            lock.lock()
            systemBlocks.insert(block)
            lock.unlock()
            return block
        }
        return mapped
    }

    /// Removes from the cache the blocks, largest first, that together fit in `gap` bytes (none where
    /// `gap` is not positive). Called with the lock held.
    private func takeParts(filling gap: Int) -> [(bytes: Int, pointer: UnsafeMutableRawPointer)] {
        var remaining = gap
        var parts: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []
        for index in cachedBlocks.indices.sorted(by: { cachedBlocks[$0].bytes > cachedBlocks[$1].bytes })
        where cachedBlocks[index].bytes <= remaining {
            parts.append(cachedBlocks[index])
            remaining -= cachedBlocks[index].bytes
        }
        let taken = Set(parts.map(\.pointer))
        cachedBlocks.removeAll { taken.contains($0.pointer) }
        cachedBytes -= gap - remaining
        return parts
    }

    private static func map(_ bytes: Int) -> UnsafeMutableRawPointer? {
        sepme_block_map(bytes, 1)
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
