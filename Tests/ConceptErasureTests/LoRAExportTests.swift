import ConceptErasure
import Foundation
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// `LoRAExport` writes factors whose product is the summed shift ΣβAS (method.md §1) in both formats:
/// diffusers/PEFT dW = lora_B·lora_A, kohya dW = (alpha/r)·lora_up·lora_down (the scale A1111, ComfyUI and
/// diffusers' kohya converter apply). No fixture: the expectation is β A S computed from the same random
/// shift; the end-to-end check against diffusers itself is scripts/check_lora_export.py.
final class LoRAExportTests: XCTestCase {
    var rng = TestRNG(seed: 23)
    let width = 24
    let toK = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
    let toV = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v"
    let midK = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k"

    /// Orthonormal rows spanning the null space of `rows` random width-24 vectors: [24 - rows, 24].
    private func randomBasis(protectedRows rows: Int) throws -> Tensor {
        let protected = rng.tensor([rows, width])
        let null = try NullSpace.basis(of: DoubleMatrix(protected), mode: .exact)
        XCTAssertEqual(null.dimension, width - rows)
        return null.basis.toTensor()
    }

    private func shift(_ name: String, basis: Tensor, beta: Float, outputs: [String: Int]) -> ConceptShift {
        let m = basis.shape[0]
        let metadata = ShiftMetadata(
            variant: .separate, concepts: [name], protectedPrompts: ["zq watermark"],
            decoupledFrom: [], baseFingerprint: "0123456789abcdef",
            hyperparameters: ErasureHyperparameters(),
            training: TrainingRecord(iterations: 1, stopReason: .converged), nullSpace: nil,
            restorable: true, toolVersion: "test")
        var factors: [String: Tensor] = [:]
        for (key, out) in outputs { factors[key] = rng.tensor([out, m]) }
        return ConceptShift(metadata: metadata, beta: beta, basis: basis, factors: factors)
    }

    private func temporaryPath() -> String {
        NSTemporaryDirectory() + "sepme-lora-\(UUID().uuidString).safetensors"
    }

    private func tensor(_ file: SafeTensorsFile, _ key: String) throws -> Tensor {
        Tensor(try file.floats(key), shape: try file.info(key).shape)
    }

    /// Reads back every projection's product (scale included) and rank from an exported file.
    private func exportedDeltas(_ shifts: [ConceptShift], format: LoRAExport.Format, rule: LoRARankRule = .automatic)
        throws -> [String: (delta: Tensor, rank: Int)]
    {
        try export(shifts, format: format, rule: rule).deltas
    }

    /// The exported products and the summary `write` returned.
    private func export(_ shifts: [ConceptShift], format: LoRAExport.Format, rule: LoRARankRule)
        throws -> (deltas: [String: (delta: Tensor, rank: Int)], summary: LoRAExport.Summary)
    {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let summary = try LoRAExport.write(shifts, format: format, to: path, rule: rule)
        let file = try SafeTensorsFile(path: path)
        var out: [String: (delta: Tensor, rank: Int)] = [:]
        switch format {
        case .diffusers:
            for key in file.keys where key.hasSuffix(".lora_A.weight") {
                let module = String(key.dropFirst("unet.".count).dropLast(".lora_A.weight".count))
                XCTAssertTrue(key.hasPrefix("unet."), key)
                let a = try tensor(file, key)
                let b = try tensor(file, "unet.\(module).lora_B.weight")
                XCTAssertEqual(b.shape[1], a.shape[0], "\(module): lora_B [out, r] / lora_A [r, in]")
                out[module] = (Tensor.matmul(b, a), a.shape[0])
            }
            XCTAssertEqual(file.keys.count, 2 * out.count, "diffusers file has only lora_A / lora_B: \(file.keys)")
        case .kohya:
            var alphas = Set<Float>()
            for key in file.keys where key.hasSuffix(".lora_down.weight") {
                let name = String(key.dropLast(".lora_down.weight".count))
                let down = try tensor(file, key)
                let up = try tensor(file, name + ".lora_up.weight")
                let alpha = try tensor(file, name + ".alpha")
                XCTAssertEqual(alpha.shape, [], "\(name).alpha is a scalar")
                alphas.insert(alpha.item)
                let r = down.shape[0]
                XCTAssertEqual(up.shape[1], r, "\(name): lora_up [out, r] / lora_down [r, in]")
                // The projection whose kohya name this is.
                let module = shifts.flatMap(\.projectionKeys).first {
                    "lora_unet_" + $0.replacingOccurrences(of: ".", with: "_") == name
                }
                guard let module else {
                    XCTFail("\(name): names no exported projection")
                    continue
                }
                out[module] = (Tensor.matmul(up, down) * (alpha.item / Float(r)), r)
            }
            XCTAssertEqual(file.keys.count, 3 * out.count, "kohya file has only lora_down / lora_up / alpha: \(file.keys)")
            XCTAssertEqual(alphas.count, 1, "one alpha for all modules (diffusers mis-scales mixed alphas): \(alphas)")
            XCTAssertEqual(alphas.first, Float(summary.maxRank), "the alpha is the largest rank")
        }
        return (out, summary)
    }

    /// max|actual − expected| / max|expected|
    private func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
        let e = maxErrors(actual, expected)
        return e.abs / e.refMax
    }

    private func expectedSum(_ shifts: [ConceptShift], _ key: String) -> Tensor {
        let terms = shifts.compactMap { $0.weightDelta(for: key) }
        return terms.dropFirst().reduce(terms[0]) { $0 + $1 }
    }

    func testBothFormatsReproduceOneShiftAtItsNumericalRank() throws {
        let basis = try randomBasis(protectedRows: 6)  // m = 18
        let outputs = [toK: 16, toV: 32, midK: 18]  // ranks min(d_out, m): 16, 18, 18
        let s = shift("a red circle", basis: basis, beta: 0.037, outputs: outputs)
        for format in LoRAExport.Format.allCases {
            let deltas = try exportedDeltas([s], format: format)
            XCTAssertEqual(Set(deltas.keys), Set(outputs.keys), "\(format)")
            for (key, out) in outputs {
                guard let got = deltas[key] else { continue }
                XCTAssertEqual(got.rank, min(out, 18), "\(format) \(key) rank")
                XCTAssertEqual(got.delta.shape, [out, width])
                let err = relativeError(got.delta, s.weightDelta(for: key)!)
                XCTAssertLessThan(err, 1e-5, "\(format) \(key): up·down vs βAS")
            }
        }
    }

    func testTwoShiftsWithDifferentBasesExportTheirSum() throws {
        let s1 = shift(
            "a red circle", basis: try randomBasis(protectedRows: 14), beta: 0.01,
            outputs: [toK: 32, toV: 32])  // m = 10
        let s2 = shift(
            "a striped blue star", basis: try randomBasis(protectedRows: 17), beta: 0.2,
            outputs: [toK: 32, toV: 32, midK: 8])  // m = 7
        for format in LoRAExport.Format.allCases {
            let deltas = try exportedDeltas([s1, s2], format: format)
            XCTAssertEqual(Set(deltas.keys), [toK, toV, midK], "\(format)")
            for key in [toK, toV, midK] {
                guard let got = deltas[key] else { continue }
                // Random bases of dimension 10 and 7 in width 24 span 17 dimensions; mid has only s2 (rank 7).
                XCTAssertEqual(got.rank, key == midK ? 7 : 17, "\(format) \(key) rank")
                let err = relativeError(got.delta, expectedSum([s1, s2], key))
                XCTAssertLessThan(err, 1e-5, "\(format) \(key): up·down vs β1 A1 S1 + β2 A2 S2")
            }
        }
        // Not vacuous: the sum differs from either term by far more than the tolerance.
        XCTAssertGreaterThan(relativeError(s1.weightDelta(for: toK)!, expectedSum([s1, s2], toK)), 1e-2)
        XCTAssertGreaterThan(relativeError(s2.weightDelta(for: toK)!, expectedSum([s1, s2], toK)), 1e-2)
    }

    func testFloat32RoundingDoesNotRaiseTheRank() throws {
        // A 320×160 shift of rank 120: its float32 rounding shows up as singular values near 1.2e-7·σ_max
        // (numpy, same shapes), above a fixed 1e-7 cutoff; the exported rank must stay 120.
        let protected = rng.tensor([40, 160])
        let basis = try NullSpace.basis(of: DoubleMatrix(protected), mode: .exact).basis.toTensor()
        let s = shift("wide", basis: basis, beta: 0.01, outputs: [toK: 320])
        for format in LoRAExport.Format.allCases {
            let got = try exportedDeltas([s], format: format)[toK]!
            XCTAssertEqual(got.rank, 120, "\(format): rank of a 320×160 shift with a 120-row basis")
            XCTAssertLessThan(relativeError(got.delta, s.weightDelta(for: toK)!), 1e-5, "\(format)")
        }
    }

    func testNothingToExportIsANamedError() throws {
        let path = temporaryPath()
        XCTAssertThrowsError(try LoRAExport.write([], format: .kohya, to: path)) { e in
            XCTAssertTrue("\(e)".contains("no shift"), "\(e)")
        }
        let zero = shift("nothing", basis: try randomBasis(protectedRows: 4), beta: 0, outputs: [toK: 16])
        XCTAssertThrowsError(try LoRAExport.write([zero], format: .diffusers, to: path)) { e in
            XCTAssertTrue("\(e)".contains("nothing") && "\(e)".contains("zero"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "no file is written on error")
    }

    /// Shifts of different base models, or of different shapes on one projection, do not sum to one
    /// model's change: refused, naming the file, and nothing is written.
    func testShiftsOfDifferentModelsOrShapesAreRefused() throws {
        let path = temporaryPath()
        let a = shift("a", basis: try randomBasis(protectedRows: 4), beta: 0.1, outputs: [toK: 16])
        let other = shift("b", basis: try randomBasis(protectedRows: 4), beta: 0.1, outputs: [toK: 16])
        other.metadata.baseFingerprint = "fedcba9876543210"
        XCTAssertThrowsError(try LoRAExport.write([a, other], format: .kohya, to: path)) { e in
            XCTAssertTrue("\(e)".contains("fedcba9876543210") && "\(e)".contains("0123456789abcdef"), "\(e)")
        }
        let wider = shift("c", basis: try randomBasis(protectedRows: 4), beta: 0.1, outputs: [toK: 24])
        XCTAssertThrowsError(try LoRAExport.write([a, wider], format: .diffusers, to: path)) { e in
            XCTAssertTrue("\(e)".contains(toK) && "\(e)".contains("[24,"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
    // MARK: Dense shifts and the rank rule

    private func denseShift(_ name: String, _ deltas: [String: Tensor]) -> ConceptShift {
        let metadata = ShiftMetadata(
            variant: .full, concepts: [name], protectedPrompts: [], decoupledFrom: [], baseFingerprint: "0123456789abcdef",
            hyperparameters: ErasureHyperparameters(), training: TrainingRecord(iterations: 1, stopReason: .converged),
            nullSpace: nil, restorable: false, toolVersion: "test")
        return ConceptShift(metadata: metadata, weights: .dense(deltas: deltas, biases: [:]))
    }

    /// U diag(σ) Vᵀ [out, in] with random orthonormal U [out, k], V [in, k] (k = σ.count), and its
    /// truncation to the first r directions.
    private func spectral(out: Int, in inF: Int, sigma: [Double]) throws -> (full: Tensor, truncated: (Int) -> Tensor) {
        let k = sigma.count
        let u = try SVD(DoubleMatrix(rng.tensor([out, k])), kind: .thin).u
        let v = try SVD(DoubleMatrix(rng.tensor([inF, k])), kind: .thin).u
        func product(_ r: Int) -> Tensor {
            DoubleMatrix(rows: out, cols: inF) { i, j in (0..<r).reduce(0.0) { $0 + u[i, $1] * sigma[$1] * v[j, $1] } }.toTensor()
        }
        return (product(k), product)
    }

    /// |actual − expected|²_F / |expected|²_F: 1 − the energy a truncation keeps.
    private func relativeSquaredError(_ actual: Tensor, _ expected: Tensor) -> Double {
        let e = (actual - expected).square().sum().item
        return Double(e) / Double(expected.square().sum().item)
    }

    /// The default rule on a dense shift: the smallest rank keeping 99.9 % of each projection's energy.
    /// to_k σ = 10, 5, 1, 0.3, 0.1, 0.05: σ² sums to 126.1025, 0.999 of it is 125.976, partial sums
    /// 100, 125, 126: rank 3, kept 126/126.1025. to_v σ = 2, 1, 1e-3: σ² = 4, 1, 1e-6, rank 2,
    /// kept 5/5.000001. Different ranks per projection, so kohya's uniform alpha (3) scales to_v's up by 2/3.
    func testDefaultExportOfADenseShiftKeeps999PerMilleOfTheEnergy() throws {
        let k = try spectral(out: 32, in: width, sigma: [10, 5, 1, 0.3, 0.1, 0.05])
        let v = try spectral(out: 16, in: width, sigma: [2, 1, 1e-3])
        let s = denseShift("a red circle", [toK: k.full, toV: v.full])
        let expected: [String: (rank: Int, kept: Double, truncated: Tensor, full: Tensor)] = [
            toK: (3, 126 / 126.1025, k.truncated(3), k.full), toV: (2, 5 / 5.000001, v.truncated(2), v.full)
        ]
        for format in LoRAExport.Format.allCases {
            let (deltas, summary) = try export([s], format: format, rule: .automatic)
            XCTAssertEqual(summary.energy, 0.999, "\(format): a dense shift gets the energy rule")
            XCTAssertEqual(summary.maxRank, 3)
            XCTAssertEqual(summary.parameters, 3 * (32 + width) + 2 * (16 + width))
            for (key, want) in expected {
                guard let got = deltas[key], let choice = summary.choices[key] else {
                    XCTFail("\(format) \(key) missing")
                    continue
                }
                XCTAssertEqual(got.rank, want.rank, "\(format) \(key)")
                XCTAssertEqual(choice.rank, want.rank)
                XCTAssertEqual(choice.numericalRank, key == toK ? 6 : 3)
                XCTAssertEqual(choice.energyKept, want.kept, accuracy: 1e-6, "\(format) \(key) reported energy")
                // The reported energy is what the file keeps: 1 − |ΔW − up·down|²/|ΔW|².
                XCTAssertEqual(1 - relativeSquaredError(got.delta, want.full), choice.energyKept, accuracy: 1e-6, "\(format) \(key)")
                XCTAssertLessThan(relativeError(got.delta, want.truncated), 1e-5, "\(format) \(key): up·down vs U_r Σ_r V_rᵀ")
            }
            XCTAssertEqual(summary.minEnergyKept, 126 / 126.1025, accuracy: 1e-6)
            XCTAssertEqual(summary.meanEnergyKept, (126 / 126.1025 + 5 / 5.000001) / 2, accuracy: 1e-6)
        }
    }

    /// `maxRank` N on a random full-rank dense ΔW: the product is ΔW's own rank-N truncated SVD (computed
    /// here independently of the export), and the energy reported is Σ_{i≤N} σ_i² / Σ σ_i² of that SVD.
    func testRankCappedExportOfADenseShiftIsItsTruncatedSVD() throws {
        let dw = rng.tensor([32, width])
        let svd = try SVD(DoubleMatrix(dw), kind: .thin)
        let sigma = svd.singularValues
        let n = 3
        let truncated = DoubleMatrix(rows: 32, cols: width) { i, j in
            (0..<n).reduce(0.0) { $0 + svd.u[i, $1] * sigma[$1] * svd.vt[$1, j] }
        }.toTensor()
        let kept = sigma.prefix(n).map { $0 * $0 }.reduce(0, +) / sigma.map { $0 * $0 }.reduce(0, +)
        let s = denseShift("x", [toK: dw])
        for format in LoRAExport.Format.allCases {
            let (deltas, summary) = try export([s], format: format, rule: try LoRARankRule(maxRank: n))
            let got = try XCTUnwrap(deltas[toK])
            XCTAssertEqual(got.rank, n)
            XCTAssertEqual(summary.energy, 1, "a rank cap alone caps the exact export")
            XCTAssertEqual(summary.choices[toK]?.numericalRank, width)
            XCTAssertEqual(summary.choices[toK]?.energyKept ?? 0, kept, accuracy: 1e-9)
            XCTAssertLessThan(relativeError(got.delta, truncated), 1e-5, "\(format)")
            XCTAssertEqual(1 - relativeSquaredError(got.delta, dw), kept, accuracy: 1e-5, "\(format)")
            // Not vacuous: the truncation drops a visible part of ΔW.
            XCTAssertLessThan(kept, 0.9)
            // Exact on request: every direction, ΔW to float rounding.
            let exact = try XCTUnwrap(try exportedDeltas([s], format: format, rule: .exact)[toK])
            XCTAssertEqual(exact.rank, width)
            XCTAssertLessThan(relativeError(exact.delta, dw), 1e-5, "\(format) exact")
        }
    }

    /// Factorised shifts stay exact by default; once a dense shift is in the sum, the energy rule applies
    /// to every projection. `summary(of:)` reports what `write` does, without a file.
    func testDefaultRuleFollowsTheKindsOfShiftsSummed() throws {
        let f = shift("a red circle", basis: try randomBasis(protectedRows: 6), beta: 0.05, outputs: [toK: 32])
        let factorisedOnly = try LoRAExport.summary(of: [f])
        XCTAssertEqual(factorisedOnly.energy, 1)
        XCTAssertEqual(factorisedOnly.choices[toK]?.rank, 18)
        XCTAssertEqual(factorisedOnly.minEnergyKept, 1, accuracy: 1e-9)
        let d = denseShift("a blue star", [toK: try spectral(out: 32, in: width, sigma: [1, 1e-3]).full])
        let mixed = try LoRAExport.summary(of: [f, d])
        XCTAssertEqual(mixed.energy, 0.999)
        let written = try export([f, d], format: .diffusers, rule: .automatic).summary
        XCTAssertEqual(written.choices, mixed.choices)
        XCTAssertEqual(written.parameters, mixed.parameters)
        XCTAssertGreaterThanOrEqual(mixed.minEnergyKept, 0.999)
        XCTAssertLessThan(mixed.choices[toK]?.rank ?? 0, mixed.choices[toK]?.numericalRank ?? 0, "the sum is truncated")
    }
}
