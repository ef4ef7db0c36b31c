import XCTest
@testable import TensorEngine

/// The engine is built checked: its shape preconditions run in every configuration the tests use.
final class CheckedEngineTests: XCTestCase {
    func testEnginePreconditionsAreLive() {
        XCTAssertTrue(CheckedBuild.preconditionsAreLive, "TensorEngine was built with -Ounchecked")
    }

    func testElementCountOfShapes() {
        XCTAssertEqual(Tensor.elementCount(of: []), 1)
        XCTAssertEqual(Tensor.elementCount(of: [0, 7]), 0)
        XCTAssertEqual(Tensor.elementCount(of: [2, 3, 4]), 24)
        XCTAssertEqual(Tensor.elementCount(of: [1 << 31, 1 << 31]), 1 << 62)
        XCTAssertEqual(Tensor(zeros: [3, 0, 2]).count, 0)
    }
}
