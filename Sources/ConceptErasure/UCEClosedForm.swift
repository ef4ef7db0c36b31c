import TensorEngine

/// The closed form of UCE (Gandikota et al., WACV 2024; `edit_model` of the authors'
/// `train_erase.py`, technique `replace`) for one set of token rows, in double precision:
///
///     W' = (λ W + s_e W Gᵀ K + s_p W Pᵀ P) A⁻¹,   A = λ I + s_e Kᵀ K + s_p Pᵀ P,
///
/// with K [n_e, d] the erased rows, G [n_e, d] their guide rows and P [n_p, d] the preserved rows.
/// Since W' A − W A = s_e W (G − K)ᵀ K, the change is ΔW = s_e (W (G − K)ᵀ) (A⁻¹ Kᵀ)ᵀ: A depends
/// on the rows only, so `A⁻¹ Kᵀ` is solved once (Cholesky; A is symmetric positive definite for
/// λ > 0) and each projection costs two thin products.
struct UCEClosedForm {
    /// s_e (A⁻¹ Kᵀ)ᵀ: [n_e, d]
    private let scaledSolution: DoubleMatrix
    /// (G − K)ᵀ: [d, n_e]
    private let guideMinusErased: DoubleMatrix

    /// - Parameters:
    ///   - erased: K [n_e, d], the erased prompts' token rows.
    ///   - guides: G [n_e, d], the guide rows paired with them.
    ///   - preserved: P [n_p, d], the preserved prompts' token rows.
    init(erased: DoubleMatrix, guides: DoubleMatrix, preserved: DoubleMatrix, options: UCEOptions) throws {
        let d = erased.cols
        guard guides.rows == erased.rows, guides.cols == d, preserved.cols == d || preserved.rows == 0 else {
            throw ErasureError.invalidPlan(
                field: "concepts",
                reason:
                    "UCE needs token rows of one width, a guide row per erased row (erased \(erased.rows)x\(d), guides \(guides.rows)x\(guides.cols), preserved \(preserved.rows)x\(preserved.cols))"
            )
        }
        try erased.checkFinite(operation: "UCE (erased token rows)")
        try guides.checkFinite(operation: "UCE (guide token rows)")
        try preserved.checkFinite(operation: "UCE (preserved token rows)")
        // A = λ I + s_e Kᵀ K + s_p Pᵀ P  [d, d]
        let kk = try erased.multiplied(by: erased, transposingSelf: true)
        var a = [Double](repeating: 0, count: d * d)
        for i in 0..<d { a[i * d + i] = options.lambda }
        for i in 0..<(d * d) { a[i] += options.eraseScale * kk.values[i] }
        if preserved.rows > 0 {
            let pp = try preserved.multiplied(by: preserved, transposingSelf: true)
            for i in 0..<(d * d) { a[i] += options.preserveScale * pp.values[i] }
        }
        // A⁻¹ Kᵀ [d, n_e], transposed and scaled: s_e K A⁻¹ [n_e, d] (A is symmetric).
        let solution = try Cholesky.solve(DoubleMatrix(rows: d, cols: d, values: a), erased.transposed)
        scaledSolution = try DoubleMatrix(
            rows: erased.rows, cols: d, values: solution.transposed.values.map { $0 * options.eraseScale })
        guideMinusErased = try guides.subtracting(erased).transposed
    }

    /// ΔW = W' − W for one projection W [d_out, d]: [d_out, d].
    func delta(weight: DoubleMatrix) throws -> DoubleMatrix {
        // W (G − K)ᵀ: [d_out, n_e]; times s_e K A⁻¹: [d_out, d]
        try weight.multiplied(by: guideMinusErased).multiplied(by: scaledSolution)
    }
}
