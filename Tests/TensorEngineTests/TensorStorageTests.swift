import XCTest

@testable import TensorEngine

/// `TensorStorage.release()`: owned memory is freed once (and not again when the storage dies); borrowed
/// memory stays readable.
final class TensorStorageTests: XCTestCase {
    func testReleaseFreesOwnedMemoryOnce() {
        let before = MemoryStatistics.shared.liveBytes
        do {
            let storage = TensorStorage(count: 1000)
            XCTAssertEqual(MemoryStatistics.shared.liveBytes, before + 4000)
            XCTAssertFalse(storage.isReleased)
            XCTAssertTrue(storage.release())
            XCTAssertTrue(storage.isReleased)
            XCTAssertEqual(MemoryStatistics.shared.liveBytes, before)
            XCTAssertFalse(storage.release(), "freed once")
            XCTAssertEqual(storage.count, 1000)
        }
        XCTAssertEqual(MemoryStatistics.shared.liveBytes, before, "not freed again when the storage dies")
    }

    func testBorrowedMemoryIsNotReleased() {
        final class Owner {
            let values = UnsafeMutablePointer<Float>.allocate(capacity: 4)
            deinit { values.deallocate() }
        }
        let owner = Owner()
        owner.values.initialize(repeating: 2.5, count: 4)
        let storage = TensorStorage(borrowing: owner.values, count: 4, owner: owner)
        XCTAssertFalse(storage.release())
        XCTAssertFalse(storage.isReleased)
        XCTAssertEqual(Array(storage.buffer), [2.5, 2.5, 2.5, 2.5])
    }
}
