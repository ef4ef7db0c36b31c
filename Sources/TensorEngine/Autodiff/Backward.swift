import Foundation

/// Reverse-mode pass: visits the nodes below `self` in reverse topological order, applies each rule,
/// accumulates gradients of leaves into `grad`, and (unless `retainGraph`) releases every node on the
/// way, so memory returns to the size of the leaves and their gradients.
extension Tensor {
    public func backward(gradient seed: Tensor? = nil, retainGraph: Bool = false) {
        let seedGrad = seed ?? Tensor(filled: 1, shape: shape)
        precondition(seedGrad.shape == shape, "backward: seed shape \(seedGrad.shape) != \(shape)")
        precondition(needsGrad, "backward() on a tensor of shape \(shape) that depends on no tensor requiring a gradient")
        GradMode.withNoGrad {
            guard let root = gradNode else {
                Tensor.accumulate(seedGrad, into: self)
                return
            }
            // Topological order of nodes by iterative depth-first search (graphs of a UNet are deep).
            var order: [GradNode] = []
            var visited = Set<ObjectIdentifier>()
            var stack: [(GradNode, Bool)] = [(root, false)]
            while let (node, expanded) = stack.popLast() {
                if expanded {
                    order.append(node)
                    continue
                }
                guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
                stack.append((node, true))
                for case .node(let input, _) in node.edges where input.isLive && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seedGrad]
            for node in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(node)), let rule = node.rule else { continue }
                let edges = node.edges
                let recorder = BackwardProfileRecorder.current
                let start = recorder == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                let inputGrads = rule(g, edges.map(\.needsGrad))
                if let recorder {
                    recorder.record(node.name, gradientShape: g.shape, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
                }
                precondition(
                    inputGrads.count == edges.count,
                    "backward rule of \(node.name) returned \(inputGrads.count) gradients for \(edges.count) inputs")
                for (edge, ig) in zip(edges, inputGrads) {
                    guard let ig else { continue }
                    switch edge {
                    case .node(let input, let shape):
                        precondition(
                            ig.shape == shape,
                            "backward rule of \(node.name): gradient shape \(ig.shape) for input \(shape)")
                        let id = ObjectIdentifier(input)
                        // A new tensor: rules may hand the same gradient object to several inputs.
                        grads[id] = grads[id].map { $0 + ig } ?? ig
                    case .leaf(let leaf):
                        precondition(
                            ig.shape == leaf.shape,
                            "backward rule of \(node.name): gradient shape \(ig.shape) for input \(leaf.shape)")
                        Tensor.accumulate(ig, into: leaf)
                    case .none:
                        break
                    }
                }
                if !retainGraph { node.release() }
            }
            if !retainGraph { gradNode = nil }
        }
    }

    /// leaf.grad += g (the first gradient is copied: rules may share gradient objects).
    private static func accumulate(_ g: Tensor, into leaf: Tensor) {
        if let existing = leaf.grad { existing.addInPlace(g) } else { leaf.grad = g.copy() }
    }

    /// Clears `grad`.
    public func zeroGrad() { grad = nil }
}
