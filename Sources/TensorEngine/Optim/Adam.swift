import Foundation

/// Adam with torch.optim.Adam's update (bias-corrected moments, eps added to the corrected sqrt of v,
/// optional L2 weight decay added to the gradient), applied in place to the parameters' storage.
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var step = 0
    private var m: [Tensor]
    private var v: [Tensor]

    public init(
        parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = parameters.map { Tensor(zeros: $0.shape) }
        v = parameters.map { Tensor(zeros: $0.shape) }
    }

    public func update() {
        step += 1
        let bc1 = 1 - Foundation.pow(Double(beta1), Double(step))
        let bc2 = 1 - Foundation.pow(Double(beta2), Double(step))
        let stepSize = Float(Double(learningRate) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let pp = p.pointer
            let gp = g.pointer
            let mp = m[i].pointer
            let vp = v[i].pointer
            let b1 = beta1
            let b2 = beta2
            let e = eps
            let wd = weightDecay
            Parallel.forEachChunk(p.count) { r in
                for j in r {
                    let grad = gp[j] + wd * pp[j]
                    mp[j] = b1 * mp[j] + (1 - b1) * grad
                    vp[j] = b2 * vp[j] + (1 - b2) * grad * grad
                    let denom = vp[j].squareRoot() / bc2Sqrt + e
                    pp[j] -= stepSize * mp[j] / denom
                }
            }
        }
    }

    /// Moments and step count, for checkpoints (`m.i`, `v.i` per parameter index).
    public var state: (step: Int, m: [Tensor], v: [Tensor]) { (step, m, v) }

    /// Restores moments saved by `state` (shapes must match the parameters).
    public func restore(step: Int, m: [Tensor], v: [Tensor]) throws {
        guard m.count == parameters.count, v.count == parameters.count,
            zip(m, parameters).allSatisfy({ $0.shape == $1.shape }),
            zip(v, parameters).allSatisfy({ $0.shape == $1.shape })
        else {
            throw OptimizerError.stateMismatch("Adam state does not match the \(parameters.count) parameters")
        }
        self.step = step
        self.m = m.map { $0.copy() }
        self.v = v.map { $0.copy() }
    }
}

public enum OptimizerError: Error, CustomStringConvertible {
    case stateMismatch(String)
    public var description: String {
        switch self {
        case .stateMismatch(let s): return s
        }
    }
}

/// An optimiser over a fixed list of parameters whose `grad` was filled by backward().
public protocol Optimizer: AnyObject {
    var parameters: [Tensor] { get }
    func update()
}

extension Optimizer {
    public func zeroGrad() { for p in parameters { p.grad = nil } }
}
