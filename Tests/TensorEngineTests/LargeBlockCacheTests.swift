import XCTest
@testable import TensorEngine

/// `LargeBlockCache`: freed blocks come back for the same size, other sizes resize the closest cached
/// block, the bytes it maps never exceed the peak
/// of the bytes in use (so the process's peak memory is what it would be without the cache), and tensor
/// storage built on a reused block is still zero-filled.
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
        // No larger block: the largest (8 MiB) grows to 16; 3 in use + 2 cached + 16 exceeds the new peak
        // of 3 + 16, so the oldest cached block (2 MiB) is unmapped.
        let e = cache.take(bytes: 16 * mib)
        XCTAssertEqual(cache.statistics.resized, 2)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        e.storeBytes(of: 2, toByteOffset: 16 * mib - 8, as: Int64.self)
        XCTAssertEqual(cache.statistics.misses, 5)
        cache.give(d, bytes: 3 * mib)
        cache.give(e, bytes: 16 * mib)
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
}
