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
    private func exportedDeltas(_ shifts: [ConceptShift], format: LoRAExport.Format)
        throws -> [String: (delta: Tensor, rank: Int)]
    {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try LoRAExport.write(shifts, format: format, to: path)
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
        }
        return out
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
}
