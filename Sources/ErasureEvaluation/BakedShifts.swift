import ConceptErasure
import NeuralNet
import TensorEngine

/// Shifts baked into the weights the way `sepme apply` writes them (`ShiftSet.fuse`): each edited
/// projection's weight becomes W + Σ_k dW_k in float32, with no adapter and therefore no reach mask
/// (method.md §1). A baked model can differ from the adapter path on protected prompts by float32
/// rounding, since (W + dW) x is not bit-equal to W x + β (x Sᵀ) Aᵀ with x Sᵀ snapped to zero.
///
/// The bake happens on the loaded model itself, for the duration of a closure: the original
/// weight tensors are copied aside first and copied back afterwards (subtracting Σ dW again would
/// not give the original bits back), so the model is bit-identical before and after.
public enum BakedShifts {
    /// Runs `body` with Σ dW of `shifts` added to `model`'s base weights and every adapter off, then
    /// restores the original weights and the previously installed shifts, also when `body` throws.
    /// - Throws: what `ShiftSet.check` throws for shifts that do not fit the model.
    public static func with<R>(_ shifts: [ConceptShift], on model: ShiftSet, force: Bool, _ body: () throws -> R) throws -> R {
        try model.check(shifts, force: force)
        return try model.withShifts([], force: force) {
            let originals = bake(shifts, into: model.projections)
            defer { for (linear, weight) in originals { linear.weight.assign(from: weight) } }
            return try body()
        }
    }

    /// Adds each projection's Σ dW to its weight, summed in the shifts' order before the one
    /// addition as `ShiftSet.fuse` does, so the weights are those of a fused model bit for bit.
    /// Returns the changed layers with copies of their original weights.
    static func bake(_ shifts: [ConceptShift], into projections: CrossAttentionProjections) -> [(Linear, Tensor)] {
        var originals: [(Linear, Tensor)] = []
        GradMode.withNoGrad {
            for (key, linear) in projections.allProjections {
                var total: Tensor?
                for s in shifts { if let d = s.weightDelta(for: key) { total = total.map { $0 + d } ?? d } }
                guard let total else { continue }
                originals.append((linear, linear.weight.copy()))
                linear.weight.addInPlace(total)
            }
        }
        return originals
    }
}
