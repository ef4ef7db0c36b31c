import XCTest
@testable import TensorEngine

/// `LargeBlockCache`: freed blocks come back for the same size, other sizes resize the closest cached
/// block (a growing one taking in other cached blocks), the bytes it maps never exceed the peak
/// of the bytes in use (so the process's peak memory is what it would be without the cache), and tensor
/// storage built on a reused block is still zero-filled. New mappings are advised for transparent huge
/// pages.
final class LargeBlockCacheTests: XCTestCase {
    private let mib = 1 << 20

    func testSameSizeIsServedFromTheCacheMostRecentFirst() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        let a = cache.take(bytes: 2 * mib)
        let b = cache.take(bytes: 2 * mib)
        XCTAssertNotEqual(a, b)
        cache.give(a, bytes: 2 * mib)
        cache.give(b, bytes: 2 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 4 * mib)
        XCTAssertEqual(cache.take(bytes: 2 * mib), b)
        XCTAssertEqual(cache.take(bytes: 2 * mib), a)
        XCTAssertEqual(cache.statistics.hits, 2)
        XCTAssertEqual(cache.statistics.misses, 2)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        XCTAssertEqual(cache.statistics.resized, 0)
        cache.give(a, bytes: 2 * mib)
        cache.give(b, bytes: 2 * mib)
    }

    func testOtherSizesResizeTheClosestBlockAndMappedBytesStayUnderThePeakInUse() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        // Peak in use: 14 MiB.
        let a = cache.take(bytes: 4 * mib)
        let b = cache.take(bytes: 2 * mib)
        let c = cache.take(bytes: 8 * mib)
        for (block, size) in [(a, 4), (b, 2), (c, 8)] { cache.give(block, bytes: size * mib) }
        XCTAssertEqual(cache.statistics.cachedBytes, 14 * mib)
        // No 3 MiB block: the smallest larger one (4 MiB) shrinks in place; nothing needs evicting.
        let d = cache.take(bytes: 3 * mib)
        XCTAssertEqual(d, a)
        XCTAssertEqual(cache.statistics.resized, 1)
        XCTAssertEqual(cache.statistics.cachedBytes, 10 * mib)
        d.storeBytes(of: 1, toByteOffset: 3 * mib - 8, as: Int64.self)
        // No larger block: the largest (8 MiB) grows to 16 and takes in the other cached block (2 MiB).
        let e = cache.take(bytes: 16 * mib)
        XCTAssertEqual(cache.statistics.resized, 2)
        XCTAssertEqual(cache.statistics.moved, 1)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        e.storeBytes(of: 2, toByteOffset: 16 * mib - 8, as: Int64.self)
        XCTAssertEqual(cache.statistics.misses, 5)
        cache.give(d, bytes: 3 * mib)
        cache.give(e, bytes: 16 * mib)
    }

    /// A block that must grow takes in the pages of the other cached blocks that fit in its growth, largest
    /// first: their contents arrive in place (moved, not copied or faulted in afresh), a block too large
    /// for what is left is passed over, and the rest of the growth is fresh, zero-filled memory.
    func testGrowingBlockTakesInTheCachedBlocksThatFitItsGrowth() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        let sizes = [5, 3, 2].map { $0 * mib }  // peak in use: 10 MiB
        let blocks = sizes.map { cache.take(bytes: $0) }
        for (tag, (block, size)) in zip(blocks, sizes).enumerated() {
            block.initializeMemory(as: UInt8.self, repeating: UInt8(tag + 1), count: size)
            cache.give(block, bytes: size)
        }
        // 9 MiB: the largest block (5) grows and takes in 3; 2 no longer fits in the last MiB, which is
        // fresh. 9 in use + 2 cached exceeds the peak of 10, so the 2 MiB block is unmapped.
        let grown = cache.take(bytes: 9 * mib)
        XCTAssertEqual(cache.statistics.resized, 1)
        XCTAssertEqual(cache.statistics.moved, 1)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        let bytes = grown.assumingMemoryBound(to: UInt8.self)
        let expected: [(mebibytes: Range<Int>, value: UInt8)] = [(0..<5, 1), (5..<8, 2), (8..<9, 0)]
        for (mebibytes, value) in expected {
            let span = (mebibytes.lowerBound * mib)..<(mebibytes.upperBound * mib)
            XCTAssertTrue(span.allSatisfy { bytes[$0] == value }, "MiB \(mebibytes) should hold \(value)")
        }
        grown.storeBytes(of: 5, toByteOffset: 9 * mib - 8, as: Int64.self)
        cache.give(grown, bytes: 9 * mib)
        XCTAssertEqual(cache.take(bytes: 9 * mib), grown)
        cache.give(grown, bytes: 9 * mib)
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
