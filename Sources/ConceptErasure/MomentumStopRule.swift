/// SepME's stopping statistic (method.md §2): m_0 = L_0, m_n = α m_{n−1} + (1 − α) L_n; after at
/// least `minIterations` iterations stop as soon as m_n ≤ τ, otherwise at `maxIterations`.
public struct MomentumStopRule: Sendable, Equatable {
    public enum Decision: Equatable, Sendable {
        case continueTraining
        /// m_n reached τ at this (1-based) iteration count.
        case converged
        case reachedMaxIterations
    }

    public let alpha: Double
    public let tau: Double
    public let minIterations: Int
    public let maxIterations: Int
    /// Iterations recorded so far.
    public private(set) var iterations = 0
    /// The momentum statistic m_n (nil before the first loss).
    public private(set) var momentum: Double?

    public init(alpha: Double = 0.9, tau: Double = 1e-4, minIterations: Int = 10, maxIterations: Int = 1000) {
        self.alpha = alpha
        self.tau = tau
        self.minIterations = minIterations
        self.maxIterations = maxIterations
    }

    /// Records the loss of one iteration and says whether to go on.
    public mutating func record(_ loss: Double) -> Decision {
        momentum = momentum.map { alpha * $0 + (1 - alpha) * loss } ?? loss
        iterations += 1
        if iterations >= minIterations, let m = momentum, m <= tau { return .converged }
        if iterations >= maxIterations { return .reachedMaxIterations }
        return .continueTraining
    }

    /// Restores the statistic from a checkpoint.
    public mutating func restore(iterations: Int, momentum: Double?) {
        self.iterations = iterations
        self.momentum = momentum
    }
}
