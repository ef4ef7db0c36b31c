import Foundation
import XCTest
@testable import TensorEngine

/// The BF16 matrix product (Sources/CMatrixKernels) on every path this CPU has: the scalar and AVX2 paths
/// (bf16 widened to fp32) always where present, the AVX-512 BF16 path (vdpbf16ps) and the AMX-BF16 tile
/// path where the CPU (and, for AMX, the OS) has them; each test prints the paths it ran.
///
/// Tolerance. The inputs are rounded to bf16 first and the fp64 reference uses the same rounded values,
/// so only the accumulation differs: each product of two bf16 values is exact in fp32, and each output
/// is a chain of at most K + 1 fp32 additions (K products, plus C when accumulating). The classic bound
/// for recursive summation, |ŝ − s| ≤ γ_n Σ|terms| with γ_n = n u / (1 − n u), u = 2^-24, n = K + 1, holds
/// for any order of the additions, so it covers every path; the tests allow 1.01 γ_n Σ|terms|.
final class BF16GEMMTests: XCTestCase {
    /// The paths to test on this CPU, slowest first.
    static var paths: [BF16GEMM.Path] {
        [.scalar, .avx2, .avx512BF16, .amx].filter { $0.rawValue <= BF16GEMM.bestPath.rawValue }
    }

    func forEachPath(_ body: (BF16GEMM.Path) throws -> Void) rethrows {
        print("BF16GEMMTests: paths run on this CPU: \(Self.paths.map(\.description).joined(separator: ", "))")
        for path in Self.paths {
            try BF16GEMM.withPathLimit(path) {
                XCTAssertEqual(BF16GEMM.path, path)
                try body(path)
            }
        }
    }

    private func randomMatrix(_ count: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float((g.nextUnitDouble() * 2 - 1) * scale) }
    }

    /// C = A B (+ C0) on the current path, checked against the fp64 product of the bf16-rounded inputs.
    private func checkProduct(m: Int, n: Int, k: Int, accumulate: Bool, seed: UInt64, label: String) -> [Float] {
        let a = randomMatrix(m * k, seed: seed)
        let b = randomMatrix(k * n, seed: seed &+ 1, scale: 3)
        let c0 = randomMatrix(m * n, seed: seed &+ 2)
        var c = accumulate ? c0 : [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BF16GEMM.multiply(
                        m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n,
                        accumulate: accumulate)
                }
            }
        }
        let ar = a.map { Double(BF16GEMM.rounded($0)) }
        let br = b.map { Double(BF16GEMM.rounded($0)) }
        let gamma = { (terms: Int) -> Double in
            let nu = Double(terms) * 0x1p-24
            return 1.01 * nu / (1 - nu)
        }(k + 1)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = accumulate ? Double(c0[i * n + j]) : 0
                var magnitude = abs(s)
                for l in 0..<k {
                    let t = ar[i * k + l] * br[l * n + j]
                    s += t
                    magnitude += abs(t)
                }
                let error = abs(Double(c[i * n + j]) - s)
                worst = max(worst, error / max(magnitude, 1e-300))
                if !(error <= gamma * magnitude) {
                    XCTFail("\(label) \(m)x\(n)x\(k) (\(i), \(j)): \(c[i * n + j]) vs \(s), error \(error) > bound \(gamma * magnitude)")
                    return c
                }
            }
        }
        return c
    }

    /// SD shapes: the thin products of attention (K = 40-160, N = 77), a projection, a convolution-shaped
    /// product (K = 2880, several k slices and row blocks), and odd sizes around every panel edge.
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (1, 1, 2), (2, 3, 3), (11, 31, 5), (12, 32, 2), (13, 33, 7), (25, 65, 257), (1, 77, 40),
        (256, 77, 40), (77, 77, 64), (130, 77, 160), (77, 320, 768), (200, 160, 2880), (37, 1, 513), (1, 300, 33)
    ]

    func testMatchesFloat64ReferenceOnEveryPath() {
        var results: [BF16GEMM.Path: [[Float]]] = [:]
        forEachPath { path in
            for (index, shape) in Self.shapes.enumerated() {
                for accumulate in [false, true] {
                    let c = checkProduct(
                        m: shape.m, n: shape.n, k: shape.k, accumulate: accumulate, seed: UInt64(index),
                        label: "\(path)\(accumulate ? " accumulate" : "")")
                    results[path, default: []].append(c)
                }
            }
        }
        // The scalar and AVX2 paths sum in the same order with the same roundings: identical bits.
        if let scalar = results[.scalar], let avx2 = results[.avx2] {
            XCTAssertTrue(zip(scalar, avx2).allSatisfy { $0.map(\.bitPattern) == $1.map(\.bitPattern) }, "scalar and AVX2 paths differ")
        }
        if let scalar = results[.scalar], let fast = results[.avx512BF16] {
            let same = zip(scalar, fast).allSatisfy { $0.map(\.bitPattern) == $1.map(\.bitPattern) }
            print("BF16GEMMTests: AVX-512 BF16 results \(same ? "are bit-identical to" : "differ in rounding from") the portable path")
        }
    }

    /// Rounding to bf16 as the packing does it: nearest even, subnormals to signed zero, NaN stays NaN,
    /// the largest floats round to infinity. Checked through 1×1×1 products with 1.
    func testRoundingOfSpecialValues() {
        let cases: [(Float, Float)] = [
            (Float(bitPattern: 0x3F80_8000), 1),  // tie, even below
            (Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F82_0000)),  // tie, even above
            (Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F81_0000)),
            (-0.0, -0.0), (Float.leastNormalMagnitude / 4, 0), (-Float.leastNonzeroMagnitude, -0.0),
            (.infinity, .infinity), (-.infinity, -.infinity), (.greatestFiniteMagnitude, .infinity)
        ]
        forEachPath { path in
            for (x, want) in cases + [(Float.nan, Float.nan)] {
                if want.isNaN {
                    XCTAssertTrue(BF16GEMM.rounded(x).isNaN)
                } else {
                    XCTAssertEqual(BF16GEMM.rounded(x).bitPattern, want.bitPattern, "rounded(\(x))")
                }
                var c: Float = 0
                var one: Float = 1
                var a = x
                BF16GEMM.multiply(m: 1, n: 1, k: 1, a: &a, lda: 1, b: &one, ldb: 1, c: &c, ldc: 1)
                if want.isNaN {
                    XCTAssertTrue(c.isNaN, "\(path): NaN input")
                } else {
                    XCTAssertTrue(c.bitPattern == want.bitPattern || (c == 0 && want == 0), "\(path): \(x) gave \(c), want \(want)")
                }
            }
        }
    }

    /// The vector packing loops, AVX2 and (where the CPU has it) AVX-512 BF16 (full panels, whole pairs;
    /// lines adjacent in memory as im2col columns are, or k values adjacent as activation rows are) give
    /// the same words as the scalar packing, special values included: rounding ties, subnormals, NaN,
    /// infinities, values that round to infinity.
    func testVectorizedPackingMatchesScalarBitForBit() throws {
        guard Self.paths.contains(.avx2) else { throw XCTSkip("no AVX2 on this CPU") }
        let specials: [Float] = [
            .nan, -.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            .leastNonzeroMagnitude, -Float.leastNormalMagnitude / 2, 0, -0.0, Float(bitPattern: 0x3F80_8000),
            Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x7F7F_8000), Float(bitPattern: 0x7FA0_0001)
        ]
        var values = randomMatrix(80 * 71, seed: 11, scale: 1e3)
        for (i, x) in specials.enumerated() { values[i * 37 % values.count] = x }
        func packed(_ path: BF16GEMM.Path, _ make: (UnsafePointer<Float>) -> BF16PackedMatrix) -> [UInt16] {
            BF16GEMM.withPathLimit(path) {
                values.withUnsafeBufferPointer { source in
                    let matrix = make(source.baseAddress!)
                    return Array(UnsafeBufferPointer(start: matrix.storage, count: matrix.count))
                }
            }
        }
        // (lines, depth) pairs: full and partial panels, even and odd k, k shorter than one vector block.
        for (lines, depth) in [(41, 37), (71, 80), (36, 16), (64, 3), (24, 70), (40, 40), (33, 95)] {
            let rowsKAdjacent = { (p: UnsafePointer<Float>) in
                BF16PackedMatrix(left: p, rows: lines, depth: depth, rowStride: depth, depthStride: 1)
            }
            let columnsAdjacent = { (p: UnsafePointer<Float>) in
                BF16PackedMatrix(right: p, depth: depth, columns: lines, depthStride: lines, columnStride: 1)
            }
            let rightKAdjacent = { (p: UnsafePointer<Float>) in
                BF16PackedMatrix(right: p, depth: depth, columns: lines, depthStride: 1, columnStride: depth)
            }
            let leftLinesAdjacent = { (p: UnsafePointer<Float>) in
                BF16PackedMatrix(left: p, rows: lines, depth: depth, rowStride: 1, depthStride: lines)
            }
            for (name, make) in [
                ("left, k adjacent", rowsKAdjacent), ("right, columns adjacent", columnsAdjacent),
                ("right, k adjacent", rightKAdjacent), ("left, rows adjacent", leftLinesAdjacent)
            ] {
                let scalar = packed(.scalar, make)
                for path in Self.paths where path != .scalar && path != .amx {
                    let vector = packed(path, make)
                    XCTAssertEqual(scalar.count, vector.count)
                    let first = scalar.indices.first { scalar[$0] != vector[$0] }
                    XCTAssertNil(first, "\(name) \(lines)×\(depth), \(path): word \(first ?? -1) differs")
                }
            }
        }
    }

    /// NaN, infinities and overflowing values run through without a trap and reach only their own rows.
    func testNonFiniteInputsStayInTheirRows() {
        let (m, n, k) = (14, 35, 9)
        var a = randomMatrix(m * k, seed: 7)
        let b = randomMatrix(k * n, seed: 8)
        a[2 * k + 3] = .nan
        a[5 * k] = .infinity
        a[13 * k + 8] = .greatestFiniteMagnitude
        forEachPath { path in
            var c = [Float](repeating: 0, count: m * n)
            BF16GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            for i in 0..<m {
                let row = c[(i * n)..<(i * n + n)]
                switch i {
                case 2: XCTAssertTrue(row.allSatisfy(\.isNaN), "\(path): row with a NaN")
                case 5, 13: XCTAssertTrue(row.allSatisfy { !$0.isFinite }, "\(path): row with an infinity")
                default: XCTAssertTrue(row.allSatisfy(\.isFinite), "\(path): finite row \(i)")
                }
            }
        }
    }

    /// Empty products: k = 0 gives zeros (or leaves C when accumulating); m or n = 0 writes nothing.
    func testEmptyDimensions() {
        forEachPath { path in
            var c: [Float] = [5, 6, 7, 8]
            BF16GEMM.multiply(m: 2, n: 2, k: 0, a: [], lda: 1, b: [], ldb: 2, c: &c, ldc: 2, accumulate: true)
            XCTAssertEqual(c, [5, 6, 7, 8], "\(path)")
            BF16GEMM.multiply(m: 2, n: 2, k: 0, a: [], lda: 1, b: [], ldb: 2, c: &c, ldc: 2)
            XCTAssertEqual(c, [0, 0, 0, 0], "\(path)")
            BF16GEMM.multiply(m: 0, n: 2, k: 3, a: [], lda: 3, b: [1, 2, 3, 4, 5, 6], ldb: 2, c: &c, ldc: 2)
            XCTAssertEqual(c, [0, 0, 0, 0], "\(path)")
        }
    }
}
