import CMatrixKernels

/// BF16 matrix product with fp32 accumulation: C (+)= A · B for A and B packed as `BF16PackedMatrix`.
/// The kernel is picked at run time: the AMX tile unit where the CPU has AMX-BF16 and the OS grants it,
/// else vdpbf16ps on CPUs with AVX-512 BF16, else bf16 widened to fp32 and multiply-added with AVX2 + FMA
/// (or scalar code). The vector paths sum each output element in the same order, and a product of two
/// bf16 values is exact in fp32, so they give the same fp32 result (inputs and results in the normal
/// range; vdpbf16ps flushes subnormal results to zero); the tile unit sums in its own order, within the
/// same rounding bound.
///
/// Threading: the tiles of C are split into chunks of row panels (or column panels, whichever side has
/// more) that run on `Parallel`; each chunk writes only its own rows (or columns) of C.
public enum BF16GEMM {
    public enum Path: Int32, Sendable, CustomStringConvertible {
        case scalar = 0
        case avx2 = 1
        case avx512BF16 = 2
        case amx = 3

        public var description: String {
            switch self {
            case .scalar: "scalar (bf16 widened to fp32)"
            case .avx2: "AVX2 + FMA (bf16 widened to fp32)"
            case .avx512BF16: "AVX-512 BF16 (vdpbf16ps)"
            case .amx: "AMX-BF16 tiles (tdpbf16ps)"
            }
        }
    }

    /// The path products take now.
    public static var path: Path { Path(rawValue: sepme_bf16_gemm_path()) ?? .scalar }

    /// The fastest path this CPU has.
    public static var bestPath: Path { Path(rawValue: sepme_bf16_gemm_best_path()) ?? .scalar }

    /// Runs `body` with the products limited to `limit` (tests and benchmarks: the portable path on a CPU
    /// that has AVX-512 BF16). Not for use while products run on other threads.
    public static func withPathLimit<T>(_ limit: Path, _ body: () throws -> T) rethrows -> T {
        let previous = sepme_bf16_gemm_set_path(limit.rawValue)
        defer { _ = sepme_bf16_gemm_set_path(previous) }
        return try body()
    }

    /// Multiply-adds below which a product runs on the calling thread only.
    static let parallelThreshold = 1 << 20

    /// C[i, j] = Σ_l A[i, l] B[l, j] (+ C[i, j] when `accumulate`), C row-major with leading dimension ldc.
    // left: [m, k] packed, right: [k, n] packed -> c: [m, n] (row stride ldc)
    public static func multiply(
        _ left: BF16PackedMatrix, _ right: BF16PackedMatrix, into c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool
    ) {
        precondition(left.side == .left && right.side == .right, "BF16GEMM.multiply: operands packed for the wrong sides")
        precondition(left.depth == right.depth, "BF16GEMM.multiply: depths differ, \(left.depth) and \(right.depth)")
        let (m, n, k) = (left.lines, right.lines, left.depth)
        precondition(ldc >= n, "BF16GEMM.multiply: ldc \(ldc) < n \(n)")
        guard m > 0, n > 0 else { return }
        let rowPanels = left.panels
        let columnPanels = right.panels
        let add: Int32 = accumulate ? 1 : 0
        let work = m * n * Swift.max(k, 1)
        let splitRows = rowPanels >= columnPanels
        let panels = splitRows ? rowPanels : columnPanels
        // The tile unit works on blocks of 32 rows and gathers the left rows once per chunk: row chunks of
        // whole blocks (8 panels of 12 rows = 3 blocks), column chunks one per thread.
        let amx = path == .amx
        let chunks = Swift.min(panels, Parallel.threadCount * (amx && !splitRows ? 1 : 4))
        guard Parallel.threadCount > 1, work >= parallelThreshold, chunks > 1 else {
            sepme_bf16_gemm(m, n, k, left.storage, right.storage, c, ldc, add, 0, rowPanels, 0, columnPanels)
            return
        }
        let align = amx && splitRows ? 8 : 1
        let size = ((panels + chunks - 1) / chunks + align - 1) / align * align
        let (a, b) = (left.storage, right.storage)
        Parallel.forEach(chunks) { chunk in
            let lo = chunk * size
            let hi = Swift.min(panels, lo + size)
            guard lo < hi else { return }
            if splitRows {
                sepme_bf16_gemm(m, n, k, a, b, c, ldc, add, lo, hi, 0, columnPanels)
            } else {
                sepme_bf16_gemm(m, n, k, a, b, c, ldc, add, 0, rowPanels, lo, hi)
            }
        }
    }

    /// C = A · B for row-major fp32 matrices, both rounded to bf16 first (tests and benchmarks).
    // a: [m, k], b: [k, n] -> c: [m, n]
    public static func multiply(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false
    ) {
        let left = BF16PackedMatrix(left: a, rows: m, depth: k, rowStride: lda, depthStride: 1)
        let right = BF16PackedMatrix(right: b, depth: k, columns: n, depthStride: ldb, columnStride: 1)
        multiply(left, right, into: c, ldc: ldc, accumulate: accumulate)
    }

    /// fp32 → bf16 as the packing rounds it (nearest even; subnormals to signed zero; NaN stays NaN),
    /// returned widened back to fp32.
    public static func rounded(_ x: Float) -> Float {
        var bits = x.bitPattern
        if bits & 0x7F80_0000 == 0 { return Float(bitPattern: bits & 0x8000_0000) }
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return Float(bitPattern: (bits | 0x0040_0000) & 0xFFFF_0000) }
        bits = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: bits & 0xFFFF_0000)
    }
}
