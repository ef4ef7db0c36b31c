import Foundation
import XCTest
@testable import SafeTensors

/// `NonFiniteScan` and `copyFloatsFindingNonFinite`: the first NaN or infinity is found wherever it lies
/// (inside a block, on a block's or a read chunk's edge, last), finite extremes are not taken for one.
final class NonFiniteScanTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try SafeTensorsTestHelpers.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Finite Float32 values of every kind: extremes, subnormals, signed zeros.
    private func finiteValues(_ count: Int) -> [Float] {
        let kinds: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 0, 1.5]
        return (0..<count).map { kinds[$0 % kinds.count] }
    }

    /// Finite values of every kind that F16 holds: its extremes and smallest subnormal, signed zeros.
    private func finiteHalfValues(_ count: Int) -> [Float] {
        let kinds: [Float] = [65504, -65504, 0x1p-24, -0x1p-24, -0.0, 0, 1.5]
        return (0..<count).map { kinds[$0 % kinds.count] }
    }

    func testFindsTheFirstBadValueAtEveryKindOfPosition() {
        let count = 3 * 4096 + 17
        XCTAssertNil(NonFiniteScan.firstIndex(finiteValues(count), count: count))
        for position in [0, 1, 4095, 4096, 8191, 2 * 4096 + 5, count - 1] {
            for bad in [Float.nan, .infinity, -.infinity, Float(bitPattern: 0xFFC0_0001)] {
                var values = finiteValues(count)
                values[position] = bad
                if position + 3 < count { values[position + 3] = .nan }  // a later one is not reported
                XCTAssertEqual(NonFiniteScan.firstIndex(values, count: count), position, "\(bad) at \(position)")
            }
        }
        XCTAssertNil(NonFiniteScan.firstIndex([Float](), count: 0))
    }

    /// The chunked copy reports the index in the whole tensor, for a value past the first read chunk
    /// (2^18 elements), in each stored float format, and still copies every value.
    func testCopyReportsIndicesAcrossReadChunks() throws {
        let count = (1 << 18) * 2 + 100
        var values = (0..<count).map { Float($0 % 512) - 256 }
        let position = (1 << 18) + 7
        values[position] = -.infinity
        values[count - 1] = .nan
        var writer = SafeTensorsWriter()
        for dtype in [SafeTensorDType.f32, .f16, .bf16] { try writer.add(dtype.rawValue, shape: [count], floats: values, dtype: dtype) }
        try writer.add("clean", shape: [count], floats: finiteHalfValues(count), dtype: .f16)
        let path = directory.appendingPathComponent("scan.safetensors").path
        try writer.write(to: path)
        let file = try SafeTensorsFile(path: path)
        var destination = [Float](repeating: 0, count: count)
        for dtype in [SafeTensorDType.f32, .f16, .bf16] {
            let found = try destination.withUnsafeMutableBufferPointer {
                try file.copyFloatsFindingNonFinite(dtype.rawValue, into: $0.baseAddress!, count: count)
            }
            XCTAssertEqual(found, position, dtype.rawValue)
            XCTAssertEqual(destination[count - 2], values[count - 2], dtype.rawValue)
            XCTAssertTrue(destination[count - 1].isNaN, dtype.rawValue)
        }
        let clean = try destination.withUnsafeMutableBufferPointer {
            try file.copyFloatsFindingNonFinite("clean", into: $0.baseAddress!, count: count)
        }
        XCTAssertNil(clean)
        XCTAssertEqual(destination.map(\.bitPattern), finiteHalfValues(count).map(\.bitPattern))
    }

    /// A run of a tensor's elements (a block of rows of a fused tensor) is the same values as the whole
    /// tensor's copy there, across a read chunk's edge and in each float format; the index of a bad value
    /// counts from the run's start, one before the run is not seen, and a run past the tensor throws.
    func testCopiesARunOfElements() throws {
        let count = (1 << 18) * 3
        var values = (0..<count).map { Float($0 % 1000) / 8 - 60 }
        values[(1 << 18) - 1] = .nan  // just before the run
        values[(1 << 18) + 5000] = .infinity
        var writer = SafeTensorsWriter()
        for dtype in [SafeTensorDType.f32, .f16, .bf16] { try writer.add(dtype.rawValue, shape: [3, 1 << 18], floats: values, dtype: dtype) }
        let path = directory.appendingPathComponent("runs.safetensors").path
        try writer.write(to: path)
        let file = try SafeTensorsFile(path: path)
        var whole = [Float](repeating: 0, count: count)
        let run = (1 << 18)..<(2 << 18)
        for dtype in [SafeTensorDType.f32, .f16, .bf16] {
            try whole.withUnsafeMutableBufferPointer { try file.copyFloats(dtype.rawValue, into: $0.baseAddress!, count: count) }
            var part = [Float](repeating: 0, count: run.count)
            let found = try part.withUnsafeMutableBufferPointer {
                try file.copyFloatsFindingNonFinite(dtype.rawValue, elements: run, into: $0.baseAddress!)
            }
            XCTAssertEqual(found, 5000, dtype.rawValue)
            XCTAssertEqual(part.map(\.bitPattern), whole[run].map(\.bitPattern), dtype.rawValue)
            let clean = try part.withUnsafeMutableBufferPointer {
                try file.copyFloatsFindingNonFinite(dtype.rawValue, elements: 17..<(17 + 70_000), into: $0.baseAddress!)
            }
            XCTAssertNil(clean, dtype.rawValue)
            XCTAssertEqual(part[0..<70_000].map(\.bitPattern), whole[17..<(17 + 70_000)].map(\.bitPattern), dtype.rawValue)
            XCTAssertThrowsError(
                try part.withUnsafeMutableBufferPointer {
                    try file.copyFloatsFindingNonFinite(dtype.rawValue, elements: (count - 5)..<(count + 5), into: $0.baseAddress!)
                }
            ) { XCTAssertTrue("\($0)".contains(dtype.rawValue), "\($0)") }
        }
    }
}
