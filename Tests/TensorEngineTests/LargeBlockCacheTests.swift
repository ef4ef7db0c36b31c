import XCTest
@testable import TensorEngine

/// `LargeBlockCache`: freed blocks come back for the same size, the bytes it maps never exceed the peak
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
        // Another size is not served from a cached block of a different size.
        cache.give(a, bytes: 2 * mib)
        let c = cache.take(bytes: 3 * mib)
        XCTAssertEqual(cache.statistics.misses, 3)
        cache.give(c, bytes: 3 * mib)
        cache.give(b, bytes: 2 * mib)
    }

    func testMappedBytesStayUnderThePeakInUse() {
        let cache = LargeBlockCache(enabled: true)
        defer { cache.release() }
        // Peak in use: 6 MiB (two blocks at once).
        let a = cache.take(bytes: 4 * mib)
        let b = cache.take(bytes: 2 * mib)
        cache.give(a, bytes: 4 * mib)
        cache.give(b, bytes: 2 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 6 * mib)
        // 5 MiB more needs room under the 6 MiB peak: both cached blocks go (oldest first, 4 MiB, is not
        // enough on its own: 2 + 5 > 6).
        let c = cache.take(bytes: 5 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        cache.give(c, bytes: 5 * mib)
        // A request that raises the peak evicts nothing it does not have to: 5 cached + 1 new = 6 ≤ 6.
        let d = cache.take(bytes: 1 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 5 * mib)
        // 5 in the cache + 1 in use + 3 new = 9 > max(6, 1 + 3): the 5 MiB block goes.
        let e = cache.take(bytes: 3 * mib)
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        cache.give(d, bytes: 1 * mib)
        cache.give(e, bytes: 3 * mib)
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
        let count = 3 * mib / 4 + 17  // above the cache's minimum, not a whole number of pages
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
