import Foundation
import SafeTensors
import TensorEngine

/// Writes the sum of shifts as a standard LoRA whose up·down product equals Σ dW per projection:
/// the factors come from a double-precision SVD of ΣdW truncated at its numerical rank, so the file
/// is as small as the shift allows and exact to float rounding.
///
/// - `diffusers`: PEFT-style keys `unet.<module>.lora_A.weight` [r, in] / `lora_B.weight` [out, r]
///   (what `StableDiffusionPipeline.load_lora_weights` reads; no alphas, so the scale is 1); a bias
///   change (the `full` variant's output projection) as `lora_B.bias` [out] (PEFT's `lora_bias`).
/// - `kohya`: `lora_unet_<module with _>.lora_down.weight` / `.lora_up.weight` / `.alpha`
///   (A1111, ComfyUI, diffusers' kohya converter). Every module carries the same alpha, the largest
///   rank R, and its up factor is scaled by r/R so that (alpha/r)·up·down = ΔW. A per-module alpha = r
///   would mean the same to A1111 and ComfyUI, but diffusers (0.42, `get_peft_kwargs`) drops the
///   alphas that differ from the most common one for kohya SD1 files and then scales those modules
///   by the wrong factor; a uniform alpha avoids that path (scripts/check_lora_export.py). A bias
///   change is written as `<name>.diff_b` [out], the key A1111 and ComfyUI read as a bias difference.
public enum LoRAExport {
    public enum Format: String, Codable, CaseIterable, Sendable { case diffusers, kohya }

    public struct Summary {
        public var projections: Int
        public var maxRank: Int
        public var parameters: Int
    }

    /// Writes the sum of `shifts` to `path` (atomically) in `format`.
    /// - Parameter relativeTolerance: singular values of ΣdW at or below this times σ_max are dropped;
    ///   nil uses the float32 numerical rank, max(d_out, d_in)·ε_float32 (numpy's `matrix_rank` rule for
    ///   float32 data): ΣdW is a float32 product, so a fixed 1e-7 would keep rounding-noise directions
    ///   (of order ε_float32·σ_max) and inflate the rank.
    /// - Throws: `invalidPlan` when `shifts` is empty or sums to zero on every projection;
    ///   `incompatibleShift` when the shifts were made for different base models or disagree on a
    ///   projection's shape (their sum would not be one model's change).
    @discardableResult
    public static func write(
        _ shifts: [ConceptShift], format: Format, to path: String,
        relativeTolerance: Double? = nil
    ) throws -> Summary {
        guard let first = shifts.first else { throw ErasureError.invalidPlan(field: "shifts", reason: "no shift to export") }
        try ShiftSet.checkDistinct(shifts)
        for s in shifts.dropFirst() where s.metadata.baseFingerprint != first.metadata.baseFingerprint {
            throw ErasureError.incompatibleShift(
                path: s.displayName,
                reason:
                    "made for the base model \(s.metadata.baseFingerprint), but \(first.displayName) for \(first.metadata.baseFingerprint); a LoRA is the change of one base model"
            )
        }
        let keys = Array(Set(shifts.flatMap(\.projectionKeys))).sorted()
        var factors: [(key: String, up: Tensor, down: Tensor, bias: Tensor?)] = []
        for key in keys {
            var total: Tensor?
            var owner: ConceptShift?
            for s in shifts {
                guard let d = s.weightDelta(for: key) else { continue }
                if let t = total, let o = owner, t.shape != d.shape {
                    throw ErasureError.incompatibleShift(
                        path: s.displayName, reason: "'\(key)' is \(d.shape), but \(t.shape) in \(o.displayName); the shifts are not for one model")
                }
                total = total.map { $0 + d } ?? d
                owner = owner ?? s
            }
            guard let dw = total else { continue }
            let biases = shifts.compactMap { $0.weights.biasDelta(for: key) }
            if let b = biases.first, let bad = biases.first(where: { $0.shape != b.shape }) {
                throw ErasureError.incompatibleShift(
                    path: first.displayName, reason: "'\(key)' bias changes of shapes \(b.shape) and \(bad.shape); the shifts are not for one model")
            }
            let bias = biases.isEmpty ? nil : GradMode.withNoGrad { biases.dropFirst().reduce(biases[0], +) }
            let (up, down) = try factorize(dw, relativeTolerance: relativeTolerance)
            if down.shape[0] > 0 || bias != nil { factors.append((key, up, down, bias)) }
        }
        guard !factors.isEmpty else {
            throw ErasureError.invalidPlan(
                field: "shifts", reason: "the shifts (\(shifts.map(\.name).joined(separator: ", "))) are zero on every projection; nothing to export")
        }
        var writer = SafeTensorsWriter()
        var summary = Summary(projections: 0, maxRank: factors.map { $0.down.shape[0] }.max() ?? 0, parameters: 0)
        for (key, up, down, bias) in factors {
            let r = down.shape[0]
            switch format {
            case .diffusers:
                if r > 0 {
                    try writer.add("unet.\(key).lora_A.weight", shape: down.shape, floats: down.scalars)
                    try writer.add("unet.\(key).lora_B.weight", shape: up.shape, floats: up.scalars)
                }
                if let bias { try writer.add("unet.\(key).lora_B.bias", shape: bias.shape, floats: bias.scalars) }
            case .kohya:
                // Uniform alpha = R; (R/r)·(r/R · up)·down = up·down.
                let name = "lora_unet_" + key.replacingOccurrences(of: ".", with: "_")
                if r > 0 {
                    let scaledUp = r == summary.maxRank ? up : up * (Float(r) / Float(summary.maxRank))
                    try writer.add(name + ".lora_down.weight", shape: down.shape, floats: down.scalars)
                    try writer.add(name + ".lora_up.weight", shape: up.shape, floats: scaledUp.scalars)
                    try writer.add(name + ".alpha", shape: [], floats: [Float(summary.maxRank)])
                }
                if let bias { try writer.add(name + ".diff_b", shape: bias.shape, floats: bias.scalars) }
            }
            summary.projections += 1
            summary.parameters += up.count + down.count + (bias?.count ?? 0)
        }
        var metadata = [
            "sepme.concepts": shifts.map(\.name).joined(separator: "\n"),
            "sepme.tool_version": SepMEInfo.version,
            "sepme.base_fingerprint": first.metadata.baseFingerprint
        ]
        if format == .kohya {
            metadata["ss_network_module"] = "networks.lora"
            metadata["ss_network_dim"] = String(summary.maxRank)
            metadata["ss_network_alpha"] = String(summary.maxRank)
        }
        try writer.write(to: path, metadata: metadata)
        return summary
    }

    /// dW [out, in] = up [out, r] · down [r, in] with r = numerical rank (σ > tol · σ_max; tol defaults
    /// to max(out, in)·ε_float32).
    static func factorize(_ dw: Tensor, relativeTolerance: Double?) throws -> (up: Tensor, down: Tensor) {
        let out = dw.shape[0]
        let inF = dw.shape[1]
        let svd = try SVD(DoubleMatrix(dw), kind: .thin)
        let sigma = svd.singularValues
        let tolerance = relativeTolerance ?? Double(max(out, inF)) * Double(Float.ulpOfOne)
        let cutoff = (sigma.first ?? 0) * tolerance
        let r = sigma.filter { $0 > cutoff && $0 > 0 }.count
        var up = [Float](repeating: 0, count: out * r)
        var down = [Float](repeating: 0, count: r * inF)
        for i in 0..<out { for j in 0..<r { up[i * r + j] = Float(svd.u[i, j] * sigma[j]) } }
        for j in 0..<r { for c in 0..<inF { down[j * inF + c] = Float(svd.vt[j, c]) } }
        return (Tensor(up, shape: [out, r]), Tensor(down, shape: [r, inF]))
    }
}
