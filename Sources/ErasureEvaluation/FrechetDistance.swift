import TensorEngine

/// Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, the FID
/// formula): |μ1 − μ2|² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), here on the toy classifier's pooled features
/// instead of Inception's. tr (Σ1 Σ2)^½ = tr (Σ1^½ Σ2 Σ1^½)^½, which is a symmetric positive
/// semi-definite square root, computed by SVD in double precision.
public enum FrechetDistance {
    /// features: rows are samples ([N, F]); N ≥ 2 in each set.
    public static func distance(_ a: [[Double]], _ b: [[Double]]) throws -> Double {
        guard a.count >= 2, b.count >= 2, let f = a.first?.count, f > 0, a.allSatisfy({ $0.count == f }),
            b.allSatisfy({ $0.count == f })
        else {
            throw EvaluationError.invalidArgument("Fréchet distance needs at least 2 feature vectors of equal length per set")
        }
        let (mu1, s1) = moments(a)
        let (mu2, s2) = moments(b)
        var meanTerm = 0.0
        for i in 0..<f { meanTerm += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) }
        let root1 = try symmetricSquareRoot(s1)
        let middle = try multiply(multiply(root1, s2), root1)
        let traceRoot = try SVD(middle).singularValues.reduce(0) { $0 + max(0, $1).squareRoot() }
        var trace = 0.0
        for i in 0..<f { trace += s1[i, i] + s2[i, i] }
        return max(0, meanTerm + trace - 2 * traceRoot)
    }

    /// Mean and unbiased covariance (numpy.cov, ddof 1).
    static func moments(_ x: [[Double]]) -> ([Double], DoubleMatrix) {
        let n = x.count
        let f = x[0].count
        var mu = [Double](repeating: 0, count: f)
        for row in x { for j in 0..<f { mu[j] += row[j] / Double(n) } }
        var cov = [Double](repeating: 0, count: f * f)
        for row in x {
            for i in 0..<f {
                let di = row[i] - mu[i]
                for j in i..<f { cov[i * f + j] += di * (row[j] - mu[j]) }
            }
        }
        for i in 0..<f {
            for j in i..<f {
                cov[i * f + j] /= Double(n - 1)
                cov[j * f + i] = cov[i * f + j]
            }
        }
        return (mu, DoubleMatrix(rows: f, cols: f) { cov[$0 * f + $1] })
    }

    /// S^½ of a symmetric PSD matrix: U diag(√σ) Uᵀ from its SVD (equal to the eigendecomposition).
    static func symmetricSquareRoot(_ s: DoubleMatrix) throws -> DoubleMatrix {
        let svd = try SVD(s)
        let n = s.rows
        return DoubleMatrix(rows: n, cols: n) { i, j in
            var v = 0.0
            for k in 0..<svd.singularValues.count { v += svd.u[i, k] * max(0, svd.singularValues[k]).squareRoot() * svd.u[j, k] }
            return v
        }
    }

    static func multiply(_ a: DoubleMatrix, _ b: DoubleMatrix) throws -> DoubleMatrix {
        DoubleMatrix(rows: a.rows, cols: b.cols) { i, j in
            var v = 0.0
            for k in 0..<a.cols { v += a[i, k] * b[k, j] }
            return v
        }
    }
}
