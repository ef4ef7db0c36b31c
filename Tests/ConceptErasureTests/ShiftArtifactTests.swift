@testable import ConceptErasure
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// Shift files round-trip; the shift vanishes on the protected rows (method.md §1); bad files are named.
final class ShiftArtifactTests: XCTestCase {
    var rng = TestRNG(seed: 11)

    private func metadata(_ concept: String) -> ShiftMetadata {
        ShiftMetadata(
            variant: .separate, concepts: [concept], protectedPrompts: ["zq watermark"], decoupledFrom: ["red"],
            baseFingerprint: "0123456789abcdef", hyperparameters: ErasureHyperparameters(),
            training: TrainingRecord(iterations: 12, stopReason: .converged), nullSpace: nil,
            restorable: true, toolVersion: "test")
    }

    func testDecoupledShiftVanishesOnProtectedEmbeddings() throws {
        // Width 48; three "prompts" of 7 tokens each to protect.
        let protected = (0..<3).map { _ in rng.tensor([7, 48]) }
        let concept = rng.tensor([7, 48])
        let dec = try ConceptDecoupling(concept: "striped", conceptEmbedding: concept, protectedEmbeddings: protected, tolerance: nil)
        XCTAssertEqual(dec.report.dimension, 48 - 21)
        XCTAssertEqual(dec.report.rank, 21)
        XCTAssertGreaterThan(dec.conceptReach, 0.1)
        let adapter = ShiftAdapter(terms: [.factorised(basis: dec.basis, factor: rng.tensor([16, dec.report.dimension]), beta: 0.5)])
        for p in protected {
            let d = adapter.delta(p)!
            XCTAssertLessThan(d.abs().scalars.max()!, 1e-5, "shift leaks onto a protected prompt")
        }
        XCTAssertGreaterThan(adapter.delta(concept)!.abs().scalars.max()!, 1e-2)
        adapter.isEnabled = false
        XCTAssertNil(adapter.delta(concept))
    }

    func testNoNullSpaceLeftIsANamedError() {
        let protected = (0..<4).map { _ in rng.tensor([7, 24]) }
        XCTAssertThrowsError(
            try ConceptDecoupling(
                concept: "red", conceptEmbedding: rng.tensor([7, 24]),
                protectedEmbeddings: protected, tolerance: nil)
        ) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("'red'") && s.contains("tolerance"), s)
        }
    }

    func testToleranceModeReportsTheDiscardedSingularValue() throws {
        // Rank-deficient up to a tiny perturbation: exact mode sees full rank, tolerance mode does not.
        let base = Tensor.matmul(rng.tensor([30, 5]), rng.tensor([5, 24]))
        let noisy = base + rng.tensor([30, 24], -1e-6, 1e-6)
        let dec = try ConceptDecoupling(concept: "c", conceptEmbedding: rng.tensor([2, 24]), protectedEmbeddings: [noisy], tolerance: 1e-4)
        XCTAssertEqual(dec.report.dimension, 19)
        XCTAssertGreaterThan(dec.report.largestDiscardedSingularValue, 0)
        XCTAssertLessThan(dec.report.largestDiscardedSingularValue, 1e-4 * dec.report.largestSingularValue)
    }

    /// In tolerance mode the protected rows keep a share up to ℓ_k inside the basis (method.md §4):
    /// the exact-mode threshold lets the shift act on them, the reach mask at
    /// `reachThreshold(relativeLeak:)` gives them none at all, and the concept is still shifted.
    func testToleranceModeReachMaskKeepsProtectedRowsExactly() throws {
        let base = Tensor.matmul(rng.tensor([30, 5]), rng.tensor([5, 24]))
        let protected = base + rng.tensor([30, 24], -1e-2, 1e-2)
        let concept = rng.tensor([4, 24])
        let dec = try ConceptDecoupling(concept: "c", conceptEmbedding: concept, protectedEmbeddings: [protected], tolerance: 1e-2)
        XCTAssertGreaterThan(dec.relativeLeak, 1e-3, "the protected rows keep a share inside the basis")
        XCTAssertEqual(dec.report.relativeLeak, dec.relativeLeak)
        let threshold = ShiftAdapter.reachThreshold(relativeLeak: dec.relativeLeak)
        XCTAssertGreaterThan(Double(threshold), dec.relativeLeak)
        let factor = rng.tensor([16, dec.report.dimension])
        let fixed = ShiftAdapter(terms: [.factorised(basis: dec.basis, factor: factor, beta: 0.5)])
        XCTAssertGreaterThan(try XCTUnwrap(fixed.delta(protected)?.abs().scalars.max()), 1e-4)
        let masked = ShiftAdapter(terms: [.factorised(basis: dec.basis, factor: factor, beta: 0.5, reachThreshold: threshold)])
        XCTAssertEqual(try XCTUnwrap(masked.delta(protected)?.abs().scalars.max()), 0, "a protected row is shifted")
        XCTAssertGreaterThan(try XCTUnwrap(masked.delta(concept)?.abs().scalars.max()), 1e-2)
        XCTAssertLessThanOrEqual(dec.conceptReach, 1)
        XCTAssertGreaterThan(dec.conceptReach, 0.1)
        // The threshold travels with the file: ℓ_k is recorded in the null-space report.
        var m = metadata("c")
        m.nullSpace = dec.report
        let path = NSTemporaryDirectory() + "sepme-\(UUID().uuidString).sepme.safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ConceptShift(metadata: m, beta: 0.5, basis: dec.basis, factors: ["mid_block.attentions.0.transformer_blocks.0.attn2.to_k": factor])
            .write(to: path)
        guard case .factorised(_, _, _, let read) = try ConceptShift.read(path: path).weights else { return XCTFail("not factorised") }
        XCTAssertEqual(read, threshold)
        XCTAssertEqual(ShiftAdapter.reachThreshold(relativeLeak: nil), ShiftAdapter.exactZeroTolerance)
        XCTAssertEqual(ShiftAdapter.reachThreshold(relativeLeak: 1e-15), ShiftAdapter.exactZeroTolerance)
    }

    func testShiftFileRoundTrip() throws {
        let s = try NullSpace.basis(of: DoubleMatrix(rng.tensor([7, 12])), mode: .exact).basis.toTensor()
        let a = rng.tensor([8, 5])
        let v = rng.tensor([8, 5])
        let shift = ConceptShift(
            metadata: metadata("striped"), beta: 1e-4, basis: s,
            factors: [
                "mid_block.attentions.0.transformer_blocks.0.attn2.to_k": a,
                "mid_block.attentions.0.transformer_blocks.0.attn2.to_v": v
            ])
        let path = NSTemporaryDirectory() + "sepme-\(UUID().uuidString).sepme.safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try shift.write(to: path)
        let back = try ConceptShift.read(path: path)
        XCTAssertEqual(back.metadata, shift.metadata)
        XCTAssertEqual(back.beta, 1e-4)
        XCTAssertEqual(back.basis!.scalars, s.scalars)
        XCTAssertEqual(back.factors["mid_block.attentions.0.transformer_blocks.0.attn2.to_v"]!.scalars, v.scalars)
        let dw = back.weightDelta(for: "mid_block.attentions.0.transformer_blocks.0.attn2.to_k")!
        assertClose(dw, Tensor.matmul(a, s) * 1e-4, rtol: 1e-6)
        XCTAssertEqual(ConceptShift.slug("Van Gogh!"), "van-gogh")
    }

    /// `method` is typed: files of sepme 0.1.0 ("SRS-ME") still read as SepME; an unknown method is
    /// refused with its key named.
    func testMethodFieldIsTypedAndReadsEarlierFiles() throws {
        let encoded = try JSONEncoder().encode(metadata("striped"))
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        XCTAssertEqual(json["method"] as? String, "sepme")
        json["method"] = "SRS-ME"
        let legacy = try JSONDecoder().decode(ShiftMetadata.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(legacy.method, .sepme)
        json["method"] = "magic"
        XCTAssertThrowsError(try JSONDecoder().decode(ShiftMetadata.self, from: JSONSerialization.data(withJSONObject: json))) { e in
            let text = ShiftMetadata.describe(decodingError: e)
            XCTAssertTrue(text.contains("method") && text.contains("magic") && text.contains("sepme"), text)
        }
    }

    func testUnreadableShiftFilesAreNamed() throws {
        let path = NSTemporaryDirectory() + "sepme-bad-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ConceptShift.read(path: path)) { e in XCTAssertTrue("\(e)".contains(path), "\(e)") }
        XCTAssertThrowsError(try ConceptShift.read(path: "/nonexistent/x.sepme.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/x.sepme.safetensors"), "\(e)")
        }
    }

    /// Non-finite, oversized or mis-shaped tensors are refused when the file is read, naming the key.
    func testTensorsAreCheckedOnRead() throws {
        let basis = try NullSpace.basis(of: DoubleMatrix(rng.tensor([7, 12])), mode: .exact).basis.toTensor()
        let key = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k"
        func refused(_ shift: ConceptShift, _ needle: String) throws {
            let path = NSTemporaryDirectory() + "sepme-\(UUID().uuidString).sepme.safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try shift.write(to: path)
            XCTAssertThrowsError(try ConceptShift.read(path: path)) { e in
                XCTAssertTrue("\(e)".contains(path) && "\(e)".contains(needle), "\(e)")
            }
        }
        var a = rng.tensor([8, 5])
        a.pointer[3] = .nan
        try refused(ConceptShift(metadata: metadata("x"), beta: 1e-4, basis: basis, factors: [key: a]), "non-finite")
        a = rng.tensor([8, 5])
        a.pointer[0] = 1e30
        try refused(ConceptShift(metadata: metadata("x"), beta: 1e-4, basis: basis, factors: [key: a]), "beyond")
        try refused(ConceptShift(metadata: metadata("x"), beta: 1e-4, basis: basis, factors: [key: rng.tensor([8, 4])]), "[8, 4]")
        try refused(ConceptShift(metadata: metadata("x"), beta: .nan, basis: basis, factors: [key: rng.tensor([8, 5])]), "beta")
        try refused(
            ConceptShift(metadata: metadata("x"), beta: 1e-4, basis: rng.tensor([5, 12]), factors: [key: rng.tensor([8, 5])]),
            "orthonormal")
        var blank = metadata("x")
        blank.concepts = [""]
        try refused(ConceptShift(metadata: blank, beta: 1e-4, basis: basis, factors: [key: rng.tensor([8, 5])]), "no concept")
    }
}
