/// One recorded operation: where each input's gradient goes, and the rule that maps the output's
/// gradient to the inputs'. Rules receive `needs[i]` so they skip work for inputs that do not need a
/// gradient (a frozen weight under a trainable activation costs no weight gradient).
///
/// The graph links nodes to nodes, not to tensors: an intermediate tensor's storage lives only as long
/// as some rule captured it for its backward (as PyTorch's saved tensors), so activations that no rule
/// needs are freed during the forward pass.
public final class GradNode {
    public let name: String
    /// Per input: the node that produced it, a leaf whose `grad` accumulates, or nothing.
    var edges: [Edge]
    /// (gradient of output, which inputs need a gradient) -> gradient per input (nil = none).
    var rule: ((Tensor, [Bool]) -> [Tensor?])?

    enum Edge {
        /// The producing node and the input's shape (to check the rule's gradient).
        case node(GradNode, [Int])
        case leaf(Tensor)
        case none

        var needsGrad: Bool {
            if case .none = self { return false }
            return true
        }
    }

    init(name: String, edges: [Edge], rule: @escaping (Tensor, [Bool]) -> [Tensor?]) {
        self.name = name
        self.edges = edges
        self.rule = rule
    }

    /// Whether backward can still pass through this node (false once it was released).
    var isLive: Bool { rule != nil }

    /// Drops the rule (and with it every saved tensor) and the links to inputs.
    func release() {
        edges = []
        rule = nil
    }
}

extension Tensor {
    /// True when an operation on `inputs` would record a gradient (`record` keeps its rule): kernels
    /// that save intermediate values only for the backward pass can skip them otherwise.
    static func recordsGradient(_ inputs: [Tensor?]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0?.needsGrad ?? false }
    }

    /// Attaches gradient history to `output` when recording is on and some input needs a gradient.
    /// Returns `output` for chaining. The rule must return one entry per input; whatever it captures
    /// stays alive until backward, so rules should capture only the tensors their gradients need.
    @discardableResult
    public static func record(
        _ name: String, inputs: [Tensor], output: Tensor,
        rule: @escaping (_ gradOutput: Tensor, _ needs: [Bool]) -> [Tensor?]
    ) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.needsGrad }) else { return output }
        let edges: [GradNode.Edge] = inputs.map { input in
            if let node = input.gradNode, node.isLive { return .node(node, input.shape) }
            return input.requiresGrad ? .leaf(input) : .none
        }
        output.gradNode = GradNode(name: name, edges: edges, rule: rule)
        return output
    }
}
