import Diffusion
import Foundation
import SafeTensors
import TensorEngine

/// Writes the sum of shifts as a standard LoRA whose up·down product is a truncated SVD of Σ dW per
/// projection: a double-precision SVD of ΣdW, kept to the rank `LoRARankRule` chooses (by default
/// exact for SepME's factorised shifts, 99.9 % of the Frobenius energy as soon as a dense shift is
/// summed), so the file is as small as the shift and the rule allow.
///
/// - `diffusers`: PEFT-style keys `unet.<module>.lora_A.weight` [r, in] / `lora_B.weight` [out, r]
///   (what `StableDiffusionPipeline.load_lora_weights` reads; no alphas, so the scale is 1); a bias
///   change (the `full` variant's output projection) as `lora_B.bias` [out] (PEFT's `lora_bias`).
/// - `kohya`: `lora_unet_<module>.lora_down.weight` / `.lora_up.weight` / `.alpha` (A1111, ComfyUI,
///   diffusers' kohya converter), `<module>` as kohya names it for the shifts' model family
///   (`KohyaModuleName`: the diffusers path with `_` for SD 1.x / 2.x, SGM block numbers for SDXL). Every module carries the same alpha, the largest
///   rank R, and its up factor is scaled by r/R so that (alpha/r)·up·down = ΔW whatever its own rank
///   r. A per-module alpha = r would mean the same to A1111 and ComfyUI, but diffusers (0.42,
///   `get_peft_kwargs`) drops the alphas that differ from the most common one for kohya SD1 files and
///   then scales those modules by the wrong factor; a uniform alpha avoids that path
///   (scripts/check_lora_export.py). A bias change is written as `<name>.diff_b` [out], the key A1111
///   and ComfyUI read as a bias difference.
public enum LoRAExport {
    public enum Format: String, Codable, CaseIterable, Sendable { case diffusers, kohya }

    /// What an export keeps (the same whether or not a file is written).
    public struct Summary: Sendable {
        /// Projections in the file (a non-zero ΔW or a bias change).
        public var projections: Int
        /// The largest rank of any projection (the kohya alpha).
        public var maxRank: Int
        /// Numbers stored: up, down and bias entries (no alphas).
        public var parameters: Int
        /// The energy fraction the rule applied (`LoRARankRule.resolvedEnergy`).
        public var energy: Double
        /// Per projection key: numerical rank, rank kept, energy kept.
        public var choices: [String: LoRARankRule.Choice]

        /// The least energy kept by a projection with a non-zero ΔW (1 when there is none).
        public var minEnergyKept: Double { changed.map(\.energyKept).min() ?? 1 }
        /// The mean energy kept over projections with a non-zero ΔW (1 when there is none).
        public var meanEnergyKept: Double { changed.isEmpty ? 1 : changed.map(\.energyKept).reduce(0, +) / Double(changed.count) }
        /// The largest numerical rank of any projection.
        public var maxNumericalRank: Int { choices.values.map(\.numericalRank).max() ?? 0 }

        private var changed: [LoRARankRule.Choice] { choices.values.filter { $0.numericalRank > 0 } }
    }

    /// Writes the sum of `shifts` to `path` (atomically) in `format`, each projection truncated by `rule`.
    /// - Parameter relativeTolerance: the numerical-rank cutoff (`LoRARankRule.choose`); nil uses the float32
    ///   numerical rank, max(d_out, d_in)·ε_float32: ΣdW is a float32 product, so a fixed 1e-7 would keep
    ///   rounding-noise directions (of order ε_float32·σ_max) and inflate the rank.
    /// - Throws: `invalidPlan` when `shifts` is empty or sums to zero on every projection;
    ///   `incompatibleShift` when the shifts were made for different base models or disagree on a
    ///   projection's shape (their sum would not be one model's change).
    @discardableResult
    public static func write(
        _ shifts: [ConceptShift], format: Format, to path: String, rule: LoRARankRule = .automatic,
        relativeTolerance: Double? = nil
    ) throws -> Summary {
        let (factors, summary) = try factorised(shifts, rule: rule, relativeTolerance: relativeTolerance)
        // One base model (checked by `factorised`), hence one family; files that do not record it are SD 1.x / 2.x.
        let family = shifts[0].metadata.modelFamily ?? .stableDiffusion
        var writer = SafeTensorsWriter()
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
                let name = try KohyaModuleName.name(ofProjection: key, family: family, source: shifts[0].displayName)
                if r > 0 {
                    let scaledUp = r == summary.maxRank ? up : up * (Float(r) / Float(summary.maxRank))
                    try writer.add(name + ".lora_down.weight", shape: down.shape, floats: down.scalars)
                    try writer.add(name + ".lora_up.weight", shape: up.shape, floats: scaledUp.scalars)
                    try writer.add(name + ".alpha", shape: [], floats: [Float(summary.maxRank)])
                }
                if let bias { try writer.add(name + ".diff_b", shape: bias.shape, floats: bias.scalars) }
            }
        }
        var metadata = [
            "sepme.concepts": shifts.map(\.name).joined(separator: "\n"),
            "sepme.tool_version": SepMEInfo.version,
            "sepme.base_fingerprint": shifts[0].metadata.baseFingerprint,
            "sepme.model_family": family.rawValue,
            "sepme.energy_rule": String(summary.energy),
            "sepme.min_energy_kept": String(summary.minEnergyKept)
        ]
        if let cap = rule.maxRank { metadata["sepme.rank_cap"] = String(cap) }
        if format == .kohya {
            metadata["ss_network_module"] = "networks.lora"
            metadata["ss_network_dim"] = String(summary.maxRank)
            metadata["ss_network_alpha"] = String(summary.maxRank)
            if family == .stableDiffusionXL { metadata["ss_base_model_version"] = "sdxl_base_v1-0" }
        }
        try writer.write(to: path, metadata: metadata)
        return summary
    }

    /// What `write` would keep for these shifts and rule, without writing a file (for `inspect`).
    /// - Throws: as `write`.
    public static func summary(
        of shifts: [ConceptShift], rule: LoRARankRule = .automatic, relativeTolerance: Double? = nil
    ) throws -> Summary {
        try factorised(shifts, rule: rule, relativeTolerance: relativeTolerance).summary
    }

    private typealias Factors = (key: String, up: Tensor, down: Tensor, bias: Tensor?)

    /// Checks the shifts, sums them per projection and truncates each sum by `rule`.
    private static func factorised(
        _ shifts: [ConceptShift], rule: LoRARankRule, relativeTolerance: Double?
    ) throws -> (factors: [Factors], summary: Summary) {
        guard let first = shifts.first else { throw ErasureError.invalidPlan(field: "shifts", reason: "no shift to export") }
        try ShiftSet.checkDistinct(shifts)
        for s in shifts.dropFirst() where s.metadata.baseFingerprint != first.metadata.baseFingerprint {
            throw ErasureError.incompatibleShift(
                path: s.displayName,
                reason:
                    "made for the base model \(s.metadata.baseFingerprint), but \(first.displayName) for \(first.metadata.baseFingerprint); a LoRA is the change of one base model"
            )
        }
        let allFactorised = shifts.allSatisfy {
            if case .factorised = $0.weights { return true }
            return false
        }
        let energy = rule.resolvedEnergy(allFactorised: allFactorised)
        let keys = Array(Set(shifts.flatMap(\.projectionKeys))).sorted()
        var factors: [Factors] = []
        var choices: [String: LoRARankRule.Choice] = [:]
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
            let (up, down, choice) = try factorize(dw, energy: energy, maxRank: rule.maxRank, relativeTolerance: relativeTolerance)
            if down.shape[0] > 0 || bias != nil {
                factors.append((key, up, down, bias))
                choices[key] = choice
            }
        }
        guard !factors.isEmpty else {
            throw ErasureError.invalidPlan(
                field: "shifts", reason: "the shifts (\(shifts.map(\.name).joined(separator: ", "))) are zero on every projection; nothing to export")
        }
        let summary = Summary(
            projections: factors.count, maxRank: factors.map { $0.down.shape[0] }.max() ?? 0,
            parameters: factors.reduce(0) { $0 + $1.up.count + $1.down.count + ($1.bias?.count ?? 0) },
            energy: energy, choices: choices)
        return (factors, summary)
    }

    /// dW [out, in] ≈ up [out, r] · down [r, in] = U_r diag(σ_1…σ_r) · V_rᵀ, r from `LoRARankRule.choose`.
    static func factorize(
        _ dw: Tensor, energy: Double, maxRank: Int?, relativeTolerance: Double?
    ) throws -> (up: Tensor, down: Tensor, choice: LoRARankRule.Choice) {
        let out = dw.shape[0]
        let inF = dw.shape[1]
        let svd = try SVD(DoubleMatrix(dw), kind: .thin)
        let sigma = svd.singularValues
        let choice = LoRARankRule.choose(
            singularValues: sigma, rows: out, cols: inF, energy: energy, maxRank: maxRank, relativeTolerance: relativeTolerance)
        let r = choice.rank
        var up = [Float](repeating: 0, count: out * r)
        var down = [Float](repeating: 0, count: r * inF)
        for i in 0..<out { for j in 0..<r { up[i * r + j] = Float(svd.u[i, j] * sigma[j]) } }
        for j in 0..<r { for c in 0..<inF { down[j * inF + c] = Float(svd.vt[j, c]) } }
        return (Tensor(up, shape: [out, r]), Tensor(down, shape: [r, inF]), choice)
    }
}
