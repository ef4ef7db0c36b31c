import CMatrixKernels
import Foundation

/// sepme's own single-precision product on AVX-512F micro-kernels (`sgemm_avx512.c`), used by
/// `BLAS.sgemm` on CPUs that have AVX-512F. The linked OpenBLAS cannot be relied on for those: Debian's
/// 0.3.21 is weak on thin products, and where `OPENBLAS_CORETYPE=Haswell` is set (a setting users and
/// machines make, and the tests keep) it runs AVX2 kernels, which reach about half of an AVX-512 core's
/// multiply-add rate. On CPUs with AVX2 + FMA but no AVX-512F, products run on AVX2 micro-kernels
/// (`sgemm_avx2.c`, the same blocking and so the same floats as the AVX-512F ones): OpenBLAS is as fast or
/// faster on some thick shapes and slower on thin ones and on long sums (docs/benchmarks.md, "AVX2
/// products"), and with the own kernels every product gives the same floats on both kinds of CPU.
///
/// Products x Wᵀ on few rows with long sums (text tokens against a linear layer's weight) run as dot
/// products instead (`sgemm_dot.c`, `runsAsDotProducts`), no operand packed, in tasks of whole 6-column tiles.
///
/// Threading: C is cut into tasks of whole row panels (or, when A has few rows, of column panels) that run
/// on `Parallel`; each task writes only its own part of C and packs the operands it reads into its own
/// scratch. Inside `BLASThreading.forEachItem` (many small products at once) every product runs on
/// its calling thread. Each element of C is summed in the same order however the tasks are cut, so the
/// result does not depend on the thread count.
public enum SGEMMKernel {
    public enum Path: Int, Sendable, CustomStringConvertible {
        /// The linked BLAS (OpenBLAS).
        case blas = 0
        /// sepme's AVX2 + FMA micro-kernels (`sgemm_avx2.c`): the same panels, slices and summation
        /// order as the AVX-512F ones, so the same results to the bit.
        case avx2 = 1
        /// sepme's AVX-512F micro-kernels.
        case avx512 = 2

        public var description: String {
            switch self {
            case .blas: "OpenBLAS"
            case .avx2: "sepme AVX2 micro-kernels"
            case .avx512: "sepme AVX-512F micro-kernels"
            }
        }
    }

    /// The fastest path this CPU has.
    public static let bestPath: Path =
        sepme_sgemm_available() == 1 ? .avx512 : (sepme_sgemm_avx2_available() == 1 ? .avx2 : .blas)

    private final class Settings: @unchecked Sendable {
        // Written only by `withPathLimit` / `BLASThreading.forEachItem` on the thread that then starts
        // the products (never while products run on other threads), read by the products.
        var limit: Path = Settings.environmentLimit
        var serial = false
        var dotProducts = true

        /// `SEPME_SGEMM=openblas` in the environment keeps every product on OpenBLAS (to compare the two
        /// in the same session, or to sidestep the own kernels), `SEPME_SGEMM=avx2` on the AVX2 kernels
        /// at most (what a CPU without AVX-512F runs); any other value, or none, lets the best path run.
        static var environmentLimit: Path {
            switch ProcessInfo.processInfo.environment["SEPME_SGEMM"]?.lowercased() {
            case "openblas": .blas
            case "avx2": .avx2
            default: .avx512
            }
        }
    }
    private static let settings = Settings()

    /// The path products take now.
    public static var path: Path { Path(rawValue: min(bestPath.rawValue, settings.limit.rawValue)) ?? .blas }

    /// Runs `body` with products on at most `limit` (tests and benchmarks: OpenBLAS on an AVX-512 CPU).
    /// Not for use while products run on other threads.
    public static func withPathLimit<T>(_ limit: Path, _ body: () throws -> T) rethrows -> T {
        let previous = settings.limit
        settings.limit = limit
        defer { settings.limit = previous }
        return try body()
    }

    /// Runs `body` with every product on its calling thread (see the type's comment).
    static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = settings.serial
        settings.serial = true
        defer { settings.serial = previous }
        return try body()
    }

    /// On the AVX2 path, x Wᵀ runs as dot products for at most this many rows and on the panel kernels
    /// beyond: its 3 × 2 tiles gain on 77 rows and lose at 154 (docs/benchmarks.md, "Products on text
    /// tokens").
    static let avx2DotProductMaxRows = 96

    /// Whether `BLAS.sgemm` runs products on the own kernels now (every product, on either own path).
    static var runsOnOwnKernels: Bool { path != .blas }

    static let rowPanel = Int(SEPME_SGEMM_MR)
    static let columnPanel = Int(SEPME_SGEMM_NR)

    /// Multiply-adds below which a product runs on the calling thread only.
    static let parallelThreshold = 1 << 19

    /// C = alpha · op(A) · op(B) + beta · C, row-major with the leading dimensions of `BLAS.sgemm`; k > 0.
    // a: [m, k] (or [k, m] when transA), b: [k, n] (or [n, k] when transB) -> c: [m, n] (row stride ldc)
    static func multiply(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let product = Product(
            problem: sepme_sgemm_problem(
                m: m, n: n, k: k, alpha: alpha, beta: beta,
                a: a, a_row_stride: transA ? 1 : lda, a_k_stride: transA ? lda : 1,
                b: b, b_k_stride: transB ? 1 : ldb, b_column_stride: transB ? ldb : 1,
                c: c, ldc: ldc, b_columns: nil),
            transA: transA, transB: transB, lda: lda, ldb: ldb, geometry: nil)
        if !transA && transB && alpha == 1 && runsAsDotProducts(m: m, k: k) {
            runDotProducts(product)
        } else {
            run(product)
        }
    }

    /// Products x Wᵀ of at most this many rows run as dot products (`sepme_sgemm_dot_task`: no operand
    /// packed), where the panel kernels would transpose each panel of W as they pack it and meet it with
    /// few row panels (docs/benchmarks.md, "Products on text tokens").
    static let dotProductMaxRows = 160
    /// ... and sums of at least this many terms: the lanes' tree costs a share of each tile that grows as k
    /// shrinks, and the embedded toy model (text width 256, feed-forward 512) keeps its products as they were.
    static let dotProductMinDepth = 768

    /// Whether x Wᵀ with m rows and sums of k terms runs as dot products now.
    public static func runsAsDotProducts(m: Int, k: Int) -> Bool {
        guard settings.dotProducts, m <= dotProductMaxRows, k >= dotProductMinDepth else { return false }
        return path == .avx512 || (path == .avx2 && m <= avx2DotProductMaxRows)
    }

    /// Runs `body` with x Wᵀ products on the panel kernels only (benchmarks: the two routes compared).
    /// Not for use while products run on other threads.
    public static func withoutDotProducts<T>(_ body: () throws -> T) rethrows -> T {
        let previous = settings.dotProducts
        settings.dotProducts = false
        defer { settings.dotProducts = previous }
        return try body()
    }

    /// C = A Bᵀ as dot products, cut into tasks of whole tiles of columns (see `run`); each element is
    /// summed in the same order however the tasks are cut. Where the kernel cannot run (an empty task
    /// tells), the panel route.
    private static func runDotProducts(_ product: Product) {
        let (m, n, k) = (product.problem.m, product.problem.n, product.problem.k)
        let avx512: Int32 = product.path == .avx512 ? 1 : 0
        var check = product.problem
        guard sepme_sgemm_dot_task(&check, 0, 0, avx512) == 0 else { return run(product) }
        let tile = 6
        let units = (n + tile - 1) / tile
        let threads = settings.serial ? 1 : Parallel.threadCount
        let tasks = threads > 1 && m * n * k >= parallelThreshold ? Swift.min(units, 2 * threads) : 1
        Parallel.forEach(tasks) { t in
            let share = taskShare(t, units: units, tasks: tasks)
            let (lo, hi) = (Swift.min(n, share.lowerBound * tile), Swift.min(n, share.upperBound * tile))
            guard lo < hi else { return }
            var p = product.problem
            _ = sepme_sgemm_dot_task(&p, lo, hi, avx512)
        }
    }

    /// out = W · columns(x) + beta · out for one image, the im2col columns gathered from the image as
    /// each panel is packed (`sepme_sgemm_columns`): the same values, summed in the same order, as
    /// `BLAS.sgemm` on an explicit `Im2Col.unfold` of the whole image, without writing the column matrix.
    // weight: [Cout, Cin·kh·kw], image: [Cin, H, W] -> out: [Cout, Hout·Wout]
    static func convolve(
        weight: UnsafePointer<Float>, outChannels: Int, image: UnsafePointer<Float>, _ g: Conv2DGeometry, beta: Float,
        out: UnsafeMutablePointer<Float>
    ) {
        var columns = sepme_sgemm_columns(
            image: image, height: g.height, width: g.width, kernel_h: g.kernelH, kernel_w: g.kernelW,
            stride_h: g.strideH, stride_w: g.strideW, pad_h: g.padH, pad_w: g.padW, out_w: g.outW, row_begin: 0)
        let n = g.outH * g.outW
        withUnsafePointer(to: &columns) { columns in
            let product = Product(
                problem: sepme_sgemm_problem(
                    m: outChannels, n: n, k: g.patchSize, alpha: 1, beta: beta, a: weight, a_row_stride: g.patchSize,
                    a_k_stride: 1, b: nil, b_k_stride: 0, b_column_stride: 0, c: out, ldc: n, b_columns: columns),
                transA: false, transB: false, lda: g.patchSize, ldb: n, geometry: g)
            run(product)
        }
    }

    /// Runs a product's tasks (see the type's comment for how they are cut).
    private static func run(_ product: Product) {
        let (m, n, k) = (product.problem.m, product.problem.n, product.problem.k)
        let columnPanels = (n + columnPanel - 1) / columnPanel
        let rowPanels = (m + rowPanel - 1) / rowPanel
        let threads = settings.serial ? 1 : Parallel.threadCount
        guard threads > 1, m * n * k >= parallelThreshold else {
            product.run(rows: 0..<m, columnPanels: 0..<columnPanels)
            return
        }
        // Two tasks of equal size per thread, so that a thread slowed by other work does not hold up the
        // product. Each task packs the whole of the operand it does not split (B's k n when rows are split,
        // A's k m when columns are), so the longer side is split, if it has enough panels.
        let wanted = 2 * threads
        let splitRows = m >= n ? rowPanels >= wanted || rowPanels >= columnPanels : columnPanels < wanted && rowPanels > columnPanels
        let units = splitRows ? rowPanels : columnPanels
        let tasks = Swift.min(units, wanted)
        Parallel.forEach(tasks) { t in
            let share = taskShare(t, units: units, tasks: tasks)
            let (lo, hi) = (share.lowerBound, share.upperBound)
            guard lo < hi else { return }
            if splitRows {
                product.run(rows: lo * rowPanel..<Swift.min(m, hi * rowPanel), columnPanels: 0..<columnPanels)
            } else {
                product.run(rows: 0..<m, columnPanels: lo..<hi)
            }
        }
    }

    /// The units task t of `tasks` takes: [⌈t·units/tasks⌉, ⌈(t+1)·units/tasks⌉). Sizes differ by at most one,
    /// the larger first (10 panels: 3, 2, 3, 2), so two threads taking tasks in turn end with equal shares.
    private static func taskShare(_ t: Int, units: Int, tasks: Int) -> Range<Int> {
        (t * units + tasks - 1) / tasks..<((t + 1) * units + tasks - 1) / tasks
    }

    /// One product: the C kernels' problem, and the call it came from (for the CBLAS fallback).
    // @unchecked Sendable: the tasks only read the problem's operands; each writes its own part of C.
    private struct Product: @unchecked Sendable {
        let problem: sepme_sgemm_problem
        let transA: Bool, transB: Bool, lda: Int, ldb: Int
        /// The convolution whose columns `problem.b_columns` describes.
        let geometry: Conv2DGeometry?
        /// The kernels the product runs on (taken when it starts, not read again by its tasks).
        var path = SGEMMKernel.path

        /// One task of `sepme_sgemm_task`; where its packing buffer cannot be had, the same part of C
        /// from CBLAS (implicit columns gathered into a buffer first).
        func run(rows: Range<Int>, columnPanels: Range<Int>) {
            var p = problem
            let (r0, r1, c0, c1) = (rows.lowerBound, rows.upperBound, columnPanels.lowerBound, columnPanels.upperBound)
            let status = path == .avx512 ? sepme_sgemm_task(&p, r0, r1, c0, c1) : sepme_sgemm_avx2_task(&p, r0, r1, c0, c1)
            guard status != 0 else { return }
            let j0 = columnPanels.lowerBound * SGEMMKernel.columnPanel
            let width = Swift.min(p.n, columnPanels.upperBound * SGEMMKernel.columnPanel) - j0
            let a = p.a + rows.lowerBound * p.a_row_stride
            let c = p.c + rows.lowerBound * p.ldc + j0
            guard let columns = p.b_columns?.pointee, let geometry else {
                BLAS.cblasSgemm(
                    transA: transA, transB: transB, m: rows.count, n: width, k: p.k, alpha: p.alpha, a: a, lda: lda,
                    b: p.b + j0 * p.b_column_stride, ldb: ldb, beta: p.beta, c: c, ldc: p.ldc)
                return
            }
            let gathered = [Float](unsafeUninitializedCapacity: p.k * width) { buffer, count in
                Im2Col.gather(columns.image, geometry, firstColumn: j0, columns: width, into: buffer.baseAddress!)
                count = p.k * width
            }
            BLAS.cblasSgemm(
                transA: false, transB: false, m: rows.count, n: width, k: p.k, alpha: p.alpha, a: a, lda: lda,
                b: gathered, ldb: width, beta: p.beta, c: c, ldc: p.ldc)
        }
    }
}
