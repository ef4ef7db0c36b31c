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
            let pp = p.pointer
            let gp = g.pointer
            let lr = learningRate
            let mu = momentum
            let wd = weightDecay
            if mu == 0 {
                Parallel.forEachChunk(p.count) { r in for j in r { pp[j] -= lr * (gp[j] + wd * pp[j]) } }
                continue
            }
            let buffer: Tensor
            if let existing = buffers[i] {
                let bp = existing.pointer
                Parallel.forEachChunk(p.count) { r in for j in r { bp[j] = mu * bp[j] + gp[j] + wd * pp[j] } }
                buffer = existing
            } else {
                // First step: the buffer is the gradient itself (PyTorch).
                buffer = Tensor(uninitialized: p.shape)
                for j in 0..<p.count { buffer.pointer[j] = gp[j] + wd * pp[j] }
                buffers[i] = buffer
            }
            let bp = buffer.pointer
            Parallel.forEachChunk(p.count) { r in for j in r { pp[j] -= lr * bp[j] } }
        }
    }
}
