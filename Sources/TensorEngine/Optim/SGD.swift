/// Stochastic gradient descent with torch.optim.SGD's momentum (dampening 0, no Nesterov) and L2 decay.
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float
    private var buffers: [Tensor?]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        buffers = parameters.map { _ in nil }
    }

    public func update() {
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let pp = p.pointer, gp = g.pointer
            let lr = learningRate, mu = momentum, wd = weightDecay
            if mu == 0 {
                Parallel.forEachChunk(p.count) { r in for j in r { pp[j] -= lr * (gp[j] + wd * pp[j]) } }
                continue
            }
            if buffers[i] == nil {
                // First step: the buffer is the gradient itself (PyTorch).
                let b = Tensor(uninitialized: p.shape)
                for j in 0..<p.count { b.pointer[j] = gp[j] + wd * pp[j] }
                buffers[i] = b
            } else {
                let bp = buffers[i]!.pointer
                Parallel.forEachChunk(p.count) { r in for j in r { bp[j] = mu * bp[j] + gp[j] + wd * pp[j] } }
            }
            let bp = buffers[i]!.pointer
            Parallel.forEachChunk(p.count) { r in for j in r { pp[j] -= lr * bp[j] } }
        }
    }
}
