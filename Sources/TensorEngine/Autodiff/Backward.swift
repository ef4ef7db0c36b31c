/// Reverse-mode pass: visits the graph below `self` in reverse topological order, applies each node's
/// rule, accumulates gradients of leaves into `grad`, and (unless `retainGraph`) releases every saved
/// activation on the way, so memory returns to the size of the leaves and their gradients.
extension Tensor {
    public func backward(gradient seed: Tensor? = nil, retainGraph: Bool = false) {
        let seedGrad = seed ?? Tensor(filled: 1, shape: shape)
        precondition(seedGrad.shape == shape, "backward: seed shape \(seedGrad.shape) != \(shape)")
        precondition(needsGrad, "backward() on a tensor that does not depend on any tensor requiring a gradient")

        // Topological order by iterative depth-first search (graphs of a UNet are deep).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            let id = ObjectIdentifier(t)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((t, true))
            if let node = t.gradNode {
                for input in node.inputs where input.needsGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seedGrad]
        GradMode.withNoGrad {
            for t in order.reversed() {
                let id = ObjectIdentifier(t)
                guard let g = grads.removeValue(forKey: id) else { continue }
                if t.requiresGrad && t.gradNode == nil {
                    if let existing = t.grad { existing.addInPlace(g) } else { t.grad = g.copy() }
                }
                guard let node = t.gradNode, let rule = node.rule else { continue }
                let needs = node.inputs.map { $0.needsGrad }
                let inputGrads = rule(g, needs)
                precondition(inputGrads.count == node.inputs.count,
                             "backward rule of \(node.name) returned \(inputGrads.count) gradients for \(node.inputs.count) inputs")
                for (input, ig) in zip(node.inputs, inputGrads) {
                    guard let ig, input.needsGrad else { continue }
                    precondition(ig.shape == input.shape,
                                 "backward rule of \(node.name): gradient shape \(ig.shape) for input \(input.shape)")
                    let iid = ObjectIdentifier(input)
                    if let acc = grads[iid] {
                        // A new tensor: rules may hand the same gradient object to several inputs.
                        grads[iid] = acc + ig
                    } else {
                        grads[iid] = ig
                    }
                }
                if !retainGraph { node.release(); t.gradNode = nil }
            }
        }
    }

    /// Clears `grad`.
    public func zeroGrad() { grad = nil }

}
