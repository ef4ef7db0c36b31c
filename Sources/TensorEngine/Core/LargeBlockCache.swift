import CMatrixKernels
import Foundation

/// Keeps freed buffers (tensor storage, packed operands, kernel scratch of at least `minimumBytes`) for
/// the next request, so that a loop which allocates the same sizes every step (diffusion steps, training
/// iterations, the convolutions of a decoder) reuses pages that are already mapped instead of asking the
/// kernel for fresh zeroed ones each time, and so that memory freed at one size serves any other.
///
/// Why not glibc: it maps every block at or above its mmap threshold (at most 32 MiB, the value
/// `AllocatorTuning` sets) on its own and unmaps it on free, and a 512 × 512 decoder activation is
/// 134 MB; below that threshold its heap keeps what is freed, but a hole serves only requests that fit
/// in it, so a forward that records its graph (activations of a few MiB kept, others of other sizes
/// freed between them) grows the heap well past what is in use. Here pages move between sizes: a
/// request takes a cached block of its size (rounded up to a page), most recently freed first; failing
/// that, the head of the smallest larger cached block (the rest stays cached); failing that, a new
/// mapping into which the cached blocks' pages are moved (`sepme_block_move`: `mremap` moves page
/// tables, not bytes), largest first, the last one cut to fit, so that only what the cache lacks is
/// fresh. A freed block merges with cached blocks adjacent to it in memory. New mappings are advised for
/// transparent huge pages (one fault and one clear per 2 MiB where the system allows them).
///
/// `mremap` moves only a range inside one mapping, so each block records its runs: consecutive stretches
/// that each lie in one mapping of the process (one for a block cut from a fresh mapping, more for one
/// assembled from moved pages). Past `runLimit` runs in all (the system caps a process's mappings), new
/// blocks are mapped without moving pages into them.
///
/// The bytes the cache maps never exceed the peak of the bytes in use seen so far: before mapping, it
/// unmaps the oldest cached blocks until the request fits under that peak, so the process's peak resident
/// memory stays what it would be with every freed block returned at once. `release()` unmaps every cached
/// block. `SEPME_BLOCK_CACHE=off` (read once) sends every request to the system allocator.
///
/// The same role as PyTorch's caching allocator (c10/cuda/CUDACachingAllocator.cpp, which also splits
/// cached blocks and merges freed neighbours), on the CPU.
public final class LargeBlockCache: @unchecked Sendable {
    public static let shared = LargeBlockCache(
        enabled: ProcessInfo.processInfo.environment["SEPME_BLOCK_CACHE"]?.lowercased() != "off")

    /// Requests below this size go to the system allocator (glibc's heap serves them well: they are few
    /// and small beside the activations of SD-sized models, which are MiBs).
    public static let minimumBytes = 1 << 20

    private static let pageBytes = 4096

    /// A stretch of a block that lies inside one mapping; `mapping` tells mappings apart, so that two
    /// adjacent runs of one mapping merge back into one.
    private struct Run {
        var bytes: Int
        var mapping: Int
    }

    private struct Block {
        var pointer: UnsafeMutableRawPointer
        var bytes: Int
        var runs: [Run]

        /// This block and `next`, which starts where this one ends, as one.
        func joined(to next: Block) -> Block { Block(pointer: pointer, bytes: bytes + next.bytes, runs: runs + next.runs) }
    }

    private let lock = NSLock()
    private let enabled: Bool
    /// Most runs the cache's blocks, live and cached, may span before new blocks stop taking in pages.
    let runLimit: Int
    /// Freed blocks, oldest first.
    private var cachedBlocks: [Block] = []
    /// The runs of each live block, by its start.
    private var liveRuns: [UnsafeMutableRawPointer: [Run]] = [:]
    private var runCount = 0
    private var nextMapping = 0
    private var cachedBytes = 0
    private var liveBytes = 0
    private var peakLiveBytes = 0
    /// Blocks that came from the system allocator because a mapping was refused.
    private var systemBlocks: Set<UnsafeMutableRawPointer> = []
    private var hits = 0
    private var misses = 0
    private var carves = 0
    private var assemblies = 0
    private var movedRuns = 0

    init(enabled: Bool, runLimit: Int = 16384) {
        self.enabled = enabled
        self.runLimit = runLimit
    }

    /// Counters since the process started: requests served by a cached block of their size, requests that
    /// found none (`carved` of them served by the head of a larger cached block, `assembled` by a new
    /// mapping that took in the pages of cached blocks, moving `moved` runs all told), and the bytes now
    /// cached.
    public var statistics: (hits: Int, misses: Int, carved: Int, assembled: Int, moved: Int, cachedBytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (hits, misses, carves, assemblies, movedRuns, cachedBytes)
    }

    /// Runs of all blocks, live and cached: an upper bound on the mappings they span.
    var runsInUse: Int {
        lock.lock()
        defer { lock.unlock() }
        return runCount
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
        runCount -= Self.runTotal(blocks)
        lock.unlock()
        for block in blocks { munmap(block.pointer, block.bytes) }
    }

    private static func roundedSize(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }

    /// A block of `bytes` (a multiple of the page size), as the type's comment describes. Where the system
    /// refuses a mapping even after the cache is emptied, the block comes from the system allocator (which
    /// reports an exhausted memory as it does for any allocation) and is remembered, so that `give` frees
    /// it the same way.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        liveBytes += bytes
        peakLiveBytes = Swift.max(peakLiveBytes, liveBytes)
        if let index = cachedBlocks.lastIndex(where: { $0.bytes == bytes }) {
            let block = cachedBlocks.remove(at: index)
            cachedBytes -= bytes
            hits += 1
            liveRuns[block.pointer] = block.runs
            lock.unlock()
            return block.pointer
        }
        misses += 1
        if let index = cachedBlocks.indices.lazy.filter({ self.cachedBlocks[$0].bytes > bytes })
            .min(by: { self.cachedBlocks[$0].bytes < self.cachedBlocks[$1].bytes })
        {
            let head = cutHead(of: index, bytes: bytes)
            carves += 1
            liveRuns[head.pointer] = head.runs
            lock.unlock()
            return head.pointer
        }
        // Every cached block is smaller: they go into a new mapping, largest first, the last one cut to fit.
        var parts: [Block] = []
        var gap = bytes
        if runCount < runLimit {
            while gap > 0, let index = cachedBlocks.indices.max(by: { cachedBlocks[$0].bytes < cachedBlocks[$1].bytes }) {
                let part = cachedBlocks[index].bytes <= gap ? removeCached(at: index) : cutHead(of: index, bytes: gap)
                parts.append(part)
                gap -= part.bytes
            }
        }
        var evicted: [Block] = []
        while liveBytes + cachedBytes > peakLiveBytes, !cachedBlocks.isEmpty {
            evicted.append(removeCached(at: 0))
        }
        runCount -= Self.runTotal(evicted)
        // Mapping numbers for the new mapping and for each run moved into it, which becomes a mapping of its own.
        let firstMapping = nextMapping
        nextMapping += 1 + Self.runTotal(parts)
        lock.unlock()
        for block in evicted { munmap(block.pointer, block.bytes) }
        return assemble(bytes: bytes, from: parts, firstMapping: firstMapping)
    }

    /// A new mapping of `bytes` with the pages of `parts` moved into it from its start; the rest of it is
    /// fresh. Its runs are numbered from `firstMapping` (the new mapping, then each moved run). Called
    /// without the lock.
    private func assemble(bytes: Int, from parts: [Block], firstMapping: Int) -> UnsafeMutableRawPointer {
        var mapped = sepme_block_map(bytes, 1)
        if mapped == nil {
            release()
            mapped = sepme_block_map(bytes, 1)
        }
        guard let mapped else {
            for part in parts { munmap(part.pointer, part.bytes) }
            let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            lock.lock()
            runCount -= Self.runTotal(parts)
            systemBlocks.insert(block)
            lock.unlock()
            return block
        }
        var runs: [Run] = []
        var offset = 0
        var moved = 0
        for part in parts {
            var source = part.pointer
            for run in part.runs {
                if sepme_block_move(source, run.bytes, mapped + offset) == 1 {
                    moved += 1
                    runs.append(Run(bytes: run.bytes, mapping: firstMapping + moved))
                } else {
                    // A run that cannot move leaves the new mapping's fresh pages at its place.
                    munmap(source, run.bytes)
                    runs.append(Run(bytes: run.bytes, mapping: firstMapping))
                }
                source += run.bytes
                offset += run.bytes
            }
        }
        if offset < bytes { runs.append(Run(bytes: bytes - offset, mapping: firstMapping)) }
        let merged = Self.merging(runs)
        lock.lock()
        runCount += merged.count - Self.runTotal(parts)
        if !parts.isEmpty { assemblies += 1 }
        movedRuns += moved
        liveRuns[mapped] = merged
        lock.unlock()
        return mapped
    }

    /// Removes the cached block at `index` (called with the lock held).
    private func removeCached(at index: Int) -> Block {
        let block = cachedBlocks.remove(at: index)
        cachedBytes -= block.bytes
        return block
    }

    /// The first `bytes` of the cached block at `index`, which keeps its place holding the rest (called
    /// with the lock held; `bytes` is a page multiple below the block's size).
    private func cutHead(of index: Int, bytes: Int) -> Block {
        let block = cachedBlocks[index]
        var head: [Run] = []
        var tail: [Run] = []
        var start = 0
        for run in block.runs {
            if start + run.bytes <= bytes {
                head.append(run)
            } else if start >= bytes {
                tail.append(run)
            } else {
                head.append(Run(bytes: bytes - start, mapping: run.mapping))
                tail.append(Run(bytes: start + run.bytes - bytes, mapping: run.mapping))
            }
            start += run.bytes
        }
        runCount += head.count + tail.count - block.runs.count
        cachedBlocks[index] = Block(pointer: block.pointer + bytes, bytes: block.bytes - bytes, runs: tail)
        cachedBytes -= bytes
        return Block(pointer: block.pointer, bytes: bytes, runs: head)
    }

    /// The runs of `blocks` all told.
    private static func runTotal(_ blocks: [Block]) -> Int { blocks.reduce(0) { $0 + $1.runs.count } }

    /// `runs` with each pair of adjacent runs of one mapping joined.
    private static func merging(_ runs: [Run]) -> [Run] {
        var merged: [Run] = []
        for run in runs {
            if let last = merged.last, last.mapping == run.mapping {
                merged[merged.count - 1].bytes += run.bytes
            } else {
                merged.append(run)
            }
        }
        return merged
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        lock.lock()
        liveBytes -= bytes
        if systemBlocks.remove(pointer) != nil {
            lock.unlock()
            pointer.deallocate()
            return
        }
        let runs = liveRuns.removeValue(forKey: pointer) ?? []
        guard enabled else {
            runCount -= runs.count
            lock.unlock()
            munmap(pointer, bytes)
            return
        }
        var block = Block(pointer: pointer, bytes: bytes, runs: runs)
        // A cached neighbour on either side joins it.
        if let index = cachedBlocks.firstIndex(where: { $0.pointer + $0.bytes == pointer }) {
            block = removeCached(at: index).joined(to: block)
        }
        if let index = cachedBlocks.firstIndex(where: { block.pointer + block.bytes == $0.pointer }) {
            block = block.joined(to: removeCached(at: index))
        }
        let merged = Self.merging(block.runs)
        runCount += merged.count - block.runs.count
        block.runs = merged
        cachedBlocks.append(block)
        cachedBytes += block.bytes
        lock.unlock()
    }
}
