import XCTest
@testable import TensorEngine

/// `LargeBlockCache`: freed blocks come back for the same size, other sizes are cut from the smallest
/// larger cached block (and merge back when freed) or assembled from the pages of smaller ones, the bytes
/// it maps never exceed the peak of the bytes in use, and tensor storage built on a reused block is
/// still zero-filled. New mappings are advised for transparent huge pages.
final class LargeBlockCacheTests: XCTestCase {
    private let mib = 1 << 20

    func testSameSizeIsServedFromTheCacheMostRecentFirst() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        let (blocks, spacers) = Self.separatedBlocks(of: [2 * mib, 2 * mib], from: cache)
        defer { for spacer in spacers { cache.give(spacer, bytes: page) } }
        let (a, b) = (blocks[0], blocks[1])
        cache.give(a, bytes: 2 * mib)
        cache.give(b, bytes: 2 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 4 * mib)
        let before = cache.statistics
        XCTAssertEqual(cache.take(bytes: 2 * mib), b)
        XCTAssertEqual(cache.take(bytes: 2 * mib), a)
        let after = cache.statistics
        XCTAssertEqual(after.hits - before.hits, 2)
        XCTAssertEqual(after.misses, before.misses)
        XCTAssertEqual(after.cachedBytes, 0)
        cache.give(a, bytes: 2 * mib)
        cache.give(b, bytes: 2 * mib)
    }

    /// A request with no cached block of its size takes the head of the smallest larger one, whose rest
    /// stays cached; given back, the two halves merge into the block they were, one run again.
    func testOtherSizesAreCutFromTheSmallestLargerBlockAndMergeBack() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        let (blocks, spacers) = Self.separatedBlocks(of: [4 * mib, 2 * mib, 8 * mib], from: cache)
        defer { for spacer in spacers { cache.give(spacer, bytes: page) } }
        for (block, size) in zip(blocks, [4, 2, 8]) { cache.give(block, bytes: size * mib) }
        let runs = cache.runsInUse
        let before = cache.statistics
        let head = cache.take(bytes: 3 * mib)
        XCTAssertEqual(head, blocks[0])
        XCTAssertEqual(cache.statistics.carved - before.carved, 1)
        XCTAssertEqual(cache.statistics.cachedBytes, 11 * mib)
        XCTAssertEqual(cache.runsInUse, runs + 1)
        // The 1 MiB left of the 4 MiB block is now a cached block of that size.
        let tail = cache.take(bytes: 1 * mib)
        XCTAssertEqual(tail, blocks[0] + 3 * mib)
        XCTAssertEqual(cache.statistics.hits - before.hits, 1)
        cache.give(head, bytes: 3 * mib)
        cache.give(tail, bytes: 1 * mib)
        XCTAssertEqual(cache.runsInUse, runs)
        XCTAssertEqual(cache.take(bytes: 4 * mib), blocks[0])
        XCTAssertEqual(cache.statistics.hits - before.hits, 2)
        cache.give(blocks[0], bytes: 4 * mib)
    }

    /// A request larger than every cached block gets a new mapping into which the cached blocks' pages
    /// move, largest first, the last one cut to fit: their contents arrive in place (moved, not copied or
    /// faulted in afresh) and only what the cache lacks is fresh, zero-filled memory. The assembled block
    /// later moves on, run by run, into a still larger one with its contents intact.
    func testLargerRequestTakesInTheCachedBlocksPages() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        let sizes = [5, 3, 2].map { $0 * mib }
        let (blocks, spacers) = Self.separatedBlocks(of: sizes, from: cache)
        defer { for spacer in spacers { cache.give(spacer, bytes: page) } }
        for (tag, (block, size)) in zip(blocks, sizes).enumerated() {
            block.initializeMemory(as: UInt8.self, repeating: UInt8(tag + 1), count: size)
            cache.give(block, bytes: size)
        }
        // 9 MiB: 5 and 3 move in whole, then the first MiB of the 2 MiB block; its second MiB stays cached.
        let before = cache.statistics
        let assembled = cache.take(bytes: 9 * mib)
        XCTAssertEqual(cache.statistics.assembled - before.assembled, 1)
        XCTAssertEqual(cache.statistics.moved - before.moved, 3)
        XCTAssertEqual(cache.statistics.cachedBytes, 1 * mib)
        Self.assertContents(assembled, [(0..<5, 1), (5..<8, 2), (8..<9, 3)])
        cache.give(assembled, bytes: 9 * mib)
        XCTAssertEqual(cache.take(bytes: 9 * mib), assembled)
        cache.give(assembled, bytes: 9 * mib)
        // 12 MiB: the 9 MiB block's three runs move, then the cached 1 MiB; 2 MiB are fresh.
        let larger = cache.take(bytes: 12 * mib)
        XCTAssertEqual(cache.statistics.assembled - before.assembled, 2)
        XCTAssertEqual(cache.statistics.moved - before.moved, 7)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        Self.assertContents(larger, [(0..<5, 1), (5..<8, 2), (8..<10, 3), (10..<12, 0)])
        cache.give(larger, bytes: 12 * mib)
    }

    /// The bytes the cache maps stay under the peak in use: where a new block may not take in cached pages
    /// (past the run limit), the oldest cached blocks are unmapped to make room for it.
    func testMappedBytesStayUnderThePeakInUse() {
        let cache = LargeBlockCache(enabled: true, runLimit: 1)
        defer { cache.release() }
        let a = cache.take(bytes: 4 * mib)
        cache.give(a, bytes: 4 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 4 * mib)
        let b = cache.take(bytes: 8 * mib)  // peak in use 8 MiB: 4 cached + 8 in use would exceed it
        XCTAssertEqual(cache.statistics.assembled, 0)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        XCTAssertEqual(cache.runsInUse, 1)
        cache.give(b, bytes: 8 * mib)
    }

    func testDisabledCacheUnmapsOnFree() {
        let cache = LargeBlockCache(enabled: false)
        let a = cache.take(bytes: 2 * mib)
        cache.give(a, bytes: 2 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        let b = cache.take(bytes: 2 * mib)
        cache.give(b, bytes: 2 * mib)
        XCTAssertEqual(cache.statistics.hits, 0)
        XCTAssertEqual(cache.statistics.misses, 2)
    }

    func testReusedStorageIsZeroFilledAndBlocksAreWritable() {
        let count = LargeBlockCache.minimumBytes / 4 + 17  // above the cache's minimum, not a whole number of pages
        for round in 0..<3 {
            let storage = TensorStorage(count: count)
            XCTAssertEqual(Int(bitPattern: storage.pointer) % 64, 0)
            XCTAssertTrue(storage.buffer.allSatisfy { $0 == 0 }, "round \(round)")
            storage.buffer.update(repeating: Float(round + 1))
        }
        let scratch = LargeBlockCache.allocateFloats(count)
        scratch.initialize(repeating: 2, count: count)
        XCTAssertEqual(scratch[count - 1], 2)
        LargeBlockCache.deallocateFloats(scratch, count: count)
    }

    /// Where the system offers transparent huge pages on advice (`madvise` or `always`), a new block's
    /// mapping is eligible for them (`THPeligible` in /proc/self/smaps); skipped where they are off.
    func testNewBlocksAreAdvisedForHugePages() throws {
        let setting = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)
        guard let setting, setting.contains("[madvise]") || setting.contains("[always]") else {
            throw XCTSkip("transparent huge pages are off or unknown here")
        }
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        let block = cache.take(bytes: 8 * mib)
        defer { cache.give(block, bytes: 8 * mib) }
        let eligible = try XCTUnwrap(Self.hugePageEligibility(of: block), "no mapping holds the block")
        XCTAssertTrue(eligible)
    }

    private let page = 4096

    /// Blocks of `sizes`, each followed by a live one-page block, all cut in order from one mapping, so
    /// that no two of them lie side by side in memory (freed neighbours would merge) and each is one run;
    /// the caller gives the spacers back.
    private static func separatedBlocks(
        of sizes: [Int], from cache: LargeBlockCache
    ) -> (blocks: [UnsafeMutableRawPointer], spacers: [UnsafeMutableRawPointer]) {
        let total = sizes.reduce(0, +) + sizes.count * 4096
        cache.give(cache.take(bytes: total), bytes: total)
        var blocks: [UnsafeMutableRawPointer] = []
        var spacers: [UnsafeMutableRawPointer] = []
        for size in sizes {
            blocks.append(cache.take(bytes: size))
            spacers.append(cache.take(bytes: 4096))
        }
        return (blocks, spacers)
    }

    /// Each MiB range of `block` holds `value` in every byte.
    private static func assertContents(
        _ block: UnsafeMutableRawPointer, _ expected: [(mebibytes: Range<Int>, value: UInt8)], line: UInt = #line
    ) {
        let bytes = block.assumingMemoryBound(to: UInt8.self)
        for (mebibytes, value) in expected {
            let span = (mebibytes.lowerBound << 20)..<(mebibytes.upperBound << 20)
            XCTAssertTrue(span.allSatisfy { bytes[$0] == value }, "MiB \(mebibytes) should hold \(value)", line: line)
        }
    }

    /// `THPeligible` of the mapping that holds `address`, from /proc/self/smaps.
    private static func hugePageEligibility(of address: UnsafeMutableRawPointer) -> Bool? {
        // /proc files report a size of zero: read to the end rather than by size.
        guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile(),
            let smaps = String(data: data, encoding: .utf8)
        else { return nil }
        let target = UInt(bitPattern: address)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1]
            } else if inside, fields.first == "THPeligible:", fields.count > 1 {
                return fields[1] == "1"
            }
        }
        return nil
    }
}
