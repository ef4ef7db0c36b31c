import Foundation
import XCTest
@testable import TensorEngine

/// `BLAS.sgemm` on both of its paths: sepme's AVX-512F micro-kernels (where the CPU has AVX-512F) and the
/// linked OpenBLAS (every CPU), each against an fp64 product of the same fp32 inputs.
///
/// Tolerance. Each output is alpha times a sum of K fp32 products, plus beta times C: a chain of at most
/// K + 2 roundings in any order, so |ĉ − c| ≤ γ_n (|alpha| Σ|a b| + |beta c0|) with γ_n = n u / (1 − n u),
/// u = 2^-24, n = K + 3 (one more for the product alpha·a that packing forms); the tests allow 1.01 γ_n.
final class SGEMMKernelTests: XCTestCase {
    static var paths: [SGEMMKernel.Path] {
        [.blas, .avx2, .avx512].filter { $0.rawValue <= SGEMMKernel.bestPath.rawValue }
    }

    func forEachPath(_ body: (SGEMMKernel.Path) throws -> Void) rethrows {
        print("SGEMMKernelTests: paths run on this CPU: \(Self.paths.map(\.description).joined(separator: ", "))")
        for path in Self.paths {
            try SGEMMKernel.withPathLimit(path) {
                XCTAssertEqual(SGEMMKernel.path, path)
                try body(path)
            }
        }
    }

    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(g.nextUnitDouble() * 2 - 1) }
    }

    private struct Case: CustomStringConvertible {
        var m: Int, n: Int, k: Int
        var transA = false, transB = false
        var alpha: Float = 1, beta: Float = 0
        /// Extra elements per row beyond the operand's width (leading dimensions larger than the minimum).
        var slack = 0
        var description: String {
            "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) alpha \(alpha) beta \(beta) slack \(slack)"
        }
    }

    /// Runs one case on the current path; returns C and the largest error relative to its bound.
    private func run(_ t: Case, seed: UInt64) -> (c: [Float], worst: Double) {
        let lda = (t.transA ? t.m : t.k) + t.slack
        let ldb = (t.transB ? t.k : t.n) + t.slack
        let ldc = t.n + t.slack
        let a = random(lda * (t.transA ? t.k : t.m), seed: seed)
        let b = random(ldb * (t.transB ? t.n : t.k), seed: seed &+ 1)
        // beta 0: C's old contents must not be read (NaN would poison the result).
        let c0 = t.beta == 0 ? [Float](repeating: .nan, count: ldc * t.m) : random(ldc * t.m, seed: seed &+ 2)
        var c = c0
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemm(
                        transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                        a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb, beta: t.beta,
                        c: cp.baseAddress!, ldc: ldc)
                }
            }
        }
        let terms = Double(t.k + 3) * 0x1p-24
        let gamma = 1.01 * terms / (1 - terms)
        var worst = 0.0
        for i in 0..<t.m {
            for j in 0..<t.n {
                var s = 0.0
                var magnitude = 0.0
                for l in 0..<t.k {
                    let x = Double(t.transA ? a[l * lda + i] : a[i * lda + l])
                    let y = Double(t.transB ? b[j * ldb + l] : b[l * ldb + j])
                    s += x * y
                    magnitude += abs(x * y)
                }
                s *= Double(t.alpha)
                magnitude *= abs(Double(t.alpha))
                if t.beta != 0 {
                    s += Double(t.beta) * Double(c0[i * ldc + j])
                    magnitude += abs(Double(t.beta) * Double(c0[i * ldc + j]))
                }
                let error = abs(Double(c[i * ldc + j]) - s)
                worst = max(worst, magnitude > 0 ? error / (gamma * magnitude) : (error == 0 ? 0 : .infinity))
            }
            // Padding between rows of C is never written.
            for j in t.n..<ldc where !(c[i * ldc + j].isNaN && c0[i * ldc + j].isNaN) {
                XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j], "\(t): padding of row \(i) written")
            }
        }
        return (c, worst)
    }

    /// Every transpose case, alpha and beta, leading dimensions above the minimum, and sizes on and off the
    /// micro-kernel's 12 x 32 tile, the 256-deep k slices and the 384-row blocks.
    func testMatchesFP64ProductOnEveryPath() {
        var cases: [Case] = []
        for (m, n, k) in [(1, 1, 1), (12, 32, 256), (13, 33, 257), (11, 17, 5), (77, 40, 77), (385, 65, 513), (5, 300, 3)] {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                cases.append(Case(m: m, n: n, k: k, transA: transA, transB: transB))
            }
        }
        cases.append(Case(m: 40, n: 70, k: 90, alpha: 0.5, beta: 0, slack: 3))
        cases.append(Case(m: 40, n: 70, k: 90, alpha: 1, beta: 1, slack: 1))
        cases.append(Case(m: 40, n: 70, k: 600, transA: true, transB: true, alpha: -2, beta: 0.25, slack: 2))
        // Large enough to be split into tasks on several threads.
        cases.append(Case(m: 300, n: 200, k: 300, beta: 1))
        cases.append(Case(m: 30, n: 900, k: 300, transB: true))
        // 33 to 48 columns, A and B in place (three-vector tiles on AVX-512F): beta 0, 1 and 0.5, ragged rows.
        cases.append(Case(m: 128, n: 40, k: 4096))
        cases.append(Case(m: 37, n: 48, k: 300, beta: 1))
        cases.append(Case(m: 61, n: 41, k: 1000, beta: 0.5, slack: 2))
        forEachPath { path in
            for (index, t) in cases.enumerated() {
                let worst = run(t, seed: UInt64(index) * 7 + 1).worst
                XCTAssertLessThanOrEqual(worst, 1, "\(path), \(t): error over the summation bound")
            }
        }
    }

    /// The own kernels sum each element in one order whatever the split into tasks: the same product run
    /// on all threads and on the calling thread only (as inside `BLASThreading.forEachItem`) is
    /// bit-identical.
    func testResultDoesNotDependOnTheThreadSplit() throws {
        try XCTSkipUnless(SGEMMKernel.bestPath == .avx512, "this CPU has no AVX-512F: products go to OpenBLAS")
        for t in [Case(m: 500, n: 300, k: 700, beta: 0.5), Case(m: 40, n: 2000, k: 300, transA: true)] {
            let parallel = run(t, seed: 11).c
            let serial = SGEMMKernel.serially { run(t, seed: 11).c }
            XCTAssertEqual(
                parallel.map(\.bitPattern), serial.map(\.bitPattern), "\(t): the thread split changed the result")
        }
    }

    /// The AVX2 kernels cut C into the same panels and k slices as the AVX-512F ones and sum each element
    /// in the same order: every transpose case, alpha and beta, ragged edges, B read in place (few rows)
    /// and packed, thin products and thick ones (both sides past a hundred, sums cut into slices), one
    /// thread and several, give the same floats on both paths.
    func testAVX2AndAVX512PathsAgreeToTheBit() throws {
        try XCTSkipUnless(SGEMMKernel.bestPath == .avx512, "comparing the two own paths needs AVX-512F")
        var cases: [Case] = []
        for (m, n, k) in [
            (13, 33, 257), (11, 17, 5), (77, 40, 77), (40, 77, 40), (385, 65, 513), (77, 1300, 40), (150, 200, 600)
        ] {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                cases.append(Case(m: m, n: n, k: k, transA: transA, transB: transB))
            }
        }
        cases.append(Case(m: 40, n: 70, k: 600, transA: true, transB: true, alpha: -2, beta: 0.25, slack: 2))
        cases.append(Case(m: 40, n: 70, k: 90, alpha: 0.5, beta: 1, slack: 3))
        // 33 to 48 columns with both operands in place: the AVX-512F path's three-vector tiles (8 rows, and a
        // 4-row last group), attention's value product among them.
        cases.append(Case(m: 128, n: 40, k: 4096))
        cases.append(Case(m: 37, n: 48, k: 300, beta: 1))
        cases.append(Case(m: 61, n: 41, k: 1000, beta: 0.5, slack: 2))
        cases.append(Case(m: 20, n: 33, k: 7, beta: 1, slack: 1))
        for (index, t) in cases.enumerated() {
            let wide = SGEMMKernel.withPathLimit(.avx512) { run(t, seed: UInt64(index) + 100).c }
            let narrow = SGEMMKernel.withPathLimit(.avx2) { run(t, seed: UInt64(index) + 100).c }
            let serial = SGEMMKernel.withPathLimit(.avx2) { SGEMMKernel.serially { run(t, seed: UInt64(index) + 100).c } }
            XCTAssertEqual(narrow.map(\.bitPattern), wide.map(\.bitPattern), "\(t): the AVX2 path differs")
            XCTAssertEqual(serial.map(\.bitPattern), wide.map(\.bitPattern), "\(t): the AVX2 path on one thread differs")
        }
    }

    /// x Wᵀ of few rows and long sums runs as dot products (`sepme_sgemm_dot_task`): within the summation
    /// bound on both own paths, the same floats on AVX-512F and AVX2 and on one thread or several, and not
    /// the panel kernels' floats (so the route is taken). Sizes off the 4 × 6 tile (and the AVX2 path's 3 × 2:
    /// last row tiles of one and two rows), k off the 16 lanes, k cut into slices (8200: six of 1367; 4100:
    /// three of 1367), beta 0, 1 and 0.5, leading dimensions above the minimum.
    func testDotProductRoute() throws {
        try XCTSkipUnless(SGEMMKernel.bestPath == .avx512, "comparing the two own paths needs AVX-512F")
        let cases = [
            Case(m: 77, n: 40, k: 768, transB: true), Case(m: 5, n: 13, k: 777, transB: true),
            Case(m: 77, n: 70, k: 8200, transB: true, beta: 0.5, slack: 3),
            Case(m: 90, n: 31, k: 4100, transB: true, beta: 1, slack: 1), Case(m: 1, n: 7, k: 768, transB: true),
            Case(m: 154, n: 200, k: 768, transB: true)
        ]
        var differsFromPanels = false
        for (index, t) in cases.enumerated() {
            let seed = UInt64(index) + 300
            XCTAssertTrue(SGEMMKernel.withPathLimit(.avx512) { SGEMMKernel.runsAsDotProducts(m: t.m, k: t.k) }, "\(t)")
            let (wide, worst) = SGEMMKernel.withPathLimit(.avx512) { run(t, seed: seed) }
            XCTAssertLessThanOrEqual(worst, 1, "\(t): error over the summation bound")
            let serial = SGEMMKernel.withPathLimit(.avx512) { SGEMMKernel.serially { run(t, seed: seed).c } }
            XCTAssertEqual(serial.map(\.bitPattern), wide.map(\.bitPattern), "\(t): the thread split changed the result")
            if t.m <= SGEMMKernel.avx2DotProductMaxRows {
                let narrow = SGEMMKernel.withPathLimit(.avx2) { run(t, seed: seed).c }
                XCTAssertEqual(narrow.map(\.bitPattern), wide.map(\.bitPattern), "\(t): the AVX2 path differs")
            }
            let panels = SGEMMKernel.withPathLimit(.avx512) { SGEMMKernel.withoutDotProducts { run(t, seed: seed).c } }
            differsFromPanels = differsFromPanels || panels.map(\.bitPattern) != wide.map(\.bitPattern)
        }
        XCTAssertTrue(differsFromPanels, "every product gave the panel kernels' floats: the dot route did not run")
        XCTAssertFalse(
            SGEMMKernel.withPathLimit(.avx512) { SGEMMKernel.runsAsDotProducts(m: 77, k: 512) }, "the toy model's widths stay on the panels")
    }

    /// On the AVX2 path every product runs on the own kernels, however thick (not only on CPUs with
    /// AVX-512F, where the test above compares the two paths' floats).
    func testAVX2PathRunsThickProductsOnTheOwnKernels() throws {
        try XCTSkipUnless(SGEMMKernel.bestPath.rawValue >= SGEMMKernel.Path.avx2.rawValue, "this CPU has no AVX2 + FMA")
        XCTAssertTrue(SGEMMKernel.withPathLimit(.avx2) { SGEMMKernel.runsOnOwnKernels })
        XCTAssertFalse(SGEMMKernel.withPathLimit(.blas) { SGEMMKernel.runsOnOwnKernels })
        let t = Case(m: 150, n: 200, k: 600, beta: 0.5, slack: 2)
        let (_, worst) = SGEMMKernel.withPathLimit(.avx2) { run(t, seed: 5) }
        XCTAssertLessThanOrEqual(worst, 1, "\(t): error over the summation bound")
    }

    /// Non-finite inputs propagate as IEEE arithmetic says (a NaN or an infinity is not lost in packing).
    func testNonFiniteInputsPropagate() {
        forEachPath { path in
            var a = random(20 * 30, seed: 3)
            a[5 * 30 + 7] = .nan
            a[9 * 30 + 2] = .infinity
            let b = random(30 * 40, seed: 4)
            var c = [Float](repeating: 0, count: 20 * 40)
            BLAS.sgemm(transA: false, transB: false, m: 20, n: 40, k: 30, a: a, lda: 30, b: b, ldb: 40, c: &c, ldc: 40)
            XCTAssertTrue((0..<40).allSatisfy { c[5 * 40 + $0].isNaN }, "\(path): row 5 should be NaN")
            XCTAssertTrue((0..<40).allSatisfy { !c[9 * 40 + $0].isFinite }, "\(path): row 9 should not be finite")
            XCTAssertTrue(c[0..<(5 * 40)].allSatisfy(\.isFinite), "\(path): rows before 5 should be finite")
        }
    }
}
