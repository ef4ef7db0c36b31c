import Diffusion
import NeuralNet
import TensorEngine

/// Puts shift files onto a loaded model: in memory as adapters (theta_S = theta + Σ_{k∈S} dW_k,
/// method.md §1), or baked into the weights for export. Shifts made for another base model are
/// refused unless forced.
public enum ShiftInstaller {
    public static func checkFingerprints(_ shifts: [ConceptShift], pipeline: StableDiffusionPipeline,
                                         projections: CrossAttentionProjections, force: Bool) throws {
        let fingerprint = ModelFingerprint.of(textEncoder: pipeline.textEncoder, crossAttention: projections)
        for s in shifts where s.metadata.baseFingerprint != fingerprint && !force {
            throw ErasureError.fingerprintMismatch(path: s.sourcePath ?? s.name, expected: s.metadata.baseFingerprint, found: fingerprint)
        }
    }

    /// Installs `shifts` as adapters (replacing any installed before).
    public static func install(_ shifts: [ConceptShift], on pipeline: StableDiffusionPipeline, force: Bool) throws {
        let projections = try CrossAttentionProjections(in: pipeline.unet)
        try checkFingerprints(shifts, pipeline: pipeline, projections: projections, force: force)
        let byKey = Dictionary(uniqueKeysWithValues: projections.allProjections)
        for (_, linear) in projections.allProjections { linear.adapter = nil }
        for shift in shifts {
            for key in shift.projectionKeys {
                guard let linear = byKey[key] else {
                    throw ErasureError.invalidShiftFile(path: shift.sourcePath ?? shift.name, reason: "projection '\(key)' does not exist in this model")
                }
                let adapter = (linear.adapter as? ShiftAdapter) ?? ShiftAdapter()
                linear.adapter = adapter
                if let a = shift.factors[key], let s = shift.basis {
                    guard a.shape[0] == linear.outFeatures, s.shape[1] == linear.inFeatures else {
                        throw ErasureError.invalidShiftFile(path: shift.sourcePath ?? shift.name, reason: "'\(key)' is \(a.shape[0])x\(s.shape[1]), the model's projection is \(linear.weight.shape)")
                    }
                    adapter.terms.append(.init(basis: s, factor: a, beta: shift.beta))
                } else if let d = shift.deltas[key] {
                    guard d.shape == linear.weight.shape else {
                        throw ErasureError.invalidShiftFile(path: shift.sourcePath ?? shift.name, reason: "'\(key)' delta is \(d.shape), the model's projection is \(linear.weight.shape)")
                    }
                    adapter.denseDeltas.append(d)
                }
            }
        }
    }

    /// Adds Σ dW to the weights in place (for writing a model folder); removes adapters.
    public static func bake(_ shifts: [ConceptShift], into pipeline: StableDiffusionPipeline, force: Bool) throws -> [String] {
        try install(shifts, on: pipeline, force: force)
        let projections = try CrossAttentionProjections(in: pipeline.unet)
        var changed: [String] = []
        for (key, linear) in projections.allProjections {
            linear.adapter = nil
            var total: Tensor?
            for s in shifts { if let d = s.weightDelta(for: key) { total = total.map { $0 + d } ?? d } }
            if let total { linear.weight.addInPlace(total); changed.append(key + ".weight") }
        }
        return changed
    }
}
