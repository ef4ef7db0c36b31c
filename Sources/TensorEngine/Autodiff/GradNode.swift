/// One recorded operation: its differentiable inputs and the rule that maps the output's gradient to
/// theirs. Rules receive `needs[i]` so they skip work for inputs that do not need a gradient (a frozen
/// weight under a trainable activation costs no weight gradient).
public final class GradNode {
    public let name: String
    /// The inputs of the operation (only those that can carry gradients are visited).
    var inputs: [Tensor]
    /// (gradient of output, which inputs need a gradient) -> gradient per input (nil = none).
    var rule: ((Tensor, [Bool]) -> [Tensor?])?

    init(name: String, inputs: [Tensor], rule: @escaping (Tensor, [Bool]) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.rule = rule
    }

    /// Drops saved activations and links to inputs.
    func release() {
        inputs = []
        rule = nil
    }
}

extension Tensor {
    /// Attaches gradient history to `output` when recording is on and some input needs a gradient.
    /// Returns `output` for chaining. The rule must return one entry per input.
    @discardableResult
    public static func record(_ name: String, inputs: [Tensor], output: Tensor,
                              rule: @escaping (_ gradOutput: Tensor, _ needs: [Bool]) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.needsGrad }) else { return output }
        output.gradNode = GradNode(name: name, inputs: inputs, rule: rule)
        return output
    }
}
