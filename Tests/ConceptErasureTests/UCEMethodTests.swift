@testable import ConceptErasure
import Foundation
import TensorEngine
import XCTest

/// UCE's closed form against an independent implementation of the authors' `edit_model`
/// (scripts/make_uce_fixture.py) on the tiny model, its invariants, its shift files, and the plan's
/// refusals of settings that belong to another method.
final class UCEMethodTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Effects: Decodable {
            let erased: [[Double]]
            let preserved: [[Double]]
        }
        struct Case: Decodable {
            let name: String
            let erase: [String]
            let guide: String
            let preserve: [String]
            let lambda: Double
            let eraseScale: Double
            let preserveScale: Double
            let erasedRows: [[Double]]
            let preservedRows: [[Double]]
            let effects: [String: Effects]

            enum CodingKeys: String, CodingKey {
                case name, erase, guide, preserve, lambda, effects
                case eraseScale = "erase_scale"
                case preserveScale = "preserve_scale"
                case erasedRows = "erased_rows"
                case preservedRows = "preserved_rows"
            }

            var options: UCEOptions {
                UCEOptions(guide: guide, preserve: preserve, lambda: lambda, eraseScale: eraseScale, preserveScale: preserveScale)
            }
        }
        let cases: [Case]
    }

    private static func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Resources/uce-fixture", withExtension: "json"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    private static func matrix(_ rows: [[Double]]) throws -> DoubleMatrix {
        try DoubleMatrix(rows: rows.count, cols: rows.first?.count ?? 0, values: rows.flatMap { $0 })
    }

    /// |a − b|_F / |b|_F
    private static func relativeError(_ a: DoubleMatrix, _ b: DoubleMatrix) throws -> Double {
        try a.subtracting(b).frobeniusNorm / b.frobeniusNorm
    }

    private func plan(_ c: Fixture.Case) throws -> ErasurePlan {
        try ErasurePlan(
            method: .uce, concepts: [c.erase[0]], conceptPrompts: c.erase.count > 1 ? [c.erase[0]: Array(c.erase.dropFirst())] : [:],
            uce: c.options)
    }

    /// The edit's effect on the token rows the reference used, ΔW k, per projection.
    func testEffectsMatchTheAuthorsClosedForm() throws {
        let model = try TinyErasure.model()
        let fixture = try Self.fixture()
        XCTAssertEqual(fixture.cases.count, 2)
        for c in fixture.cases {
            let plan = try plan(c)
            XCTAssertEqual(UCEMethod.preserveSet(plan: plan), c.preserve.isEmpty ? [""] : c.preserve)
            let deltas = try UCEMethod.deltas(
                model: model, erase: plan.prompts(ofConceptAt: 0), guide: c.guide, preserve: UCEMethod.preserveSet(plan: plan),
                options: c.options)
            XCTAssertEqual(deltas.keys.sorted(), c.effects.keys.sorted(), c.name)
            // The token windows: the same rows as the reference's (up to the two text encoders' rounding).
            let rows = try UCEMethod.tokenRows(
                pipeline: model.pipeline, erase: plan.prompts(ofConceptAt: 0), guide: c.guide, preserve: UCEMethod.preserveSet(plan: plan))
            let erasedRows = try Self.matrix(c.erasedRows)
            let preservedRows = try Self.matrix(c.preservedRows)
            XCTAssertEqual(rows.erased.rows, erasedRows.rows, c.name)
            XCTAssertEqual(rows.preserved.rows, preservedRows.rows, c.name)
            XCTAssertLessThan(try Self.relativeError(rows.erased, erasedRows), 1e-5, c.name)
            XCTAssertLessThan(try Self.relativeError(rows.preserved, preservedRows), 1e-5, c.name)
            for (key, expected) in c.effects.sorted(by: { $0.key < $1.key }) {
                let delta = try DoubleMatrix(try XCTUnwrap(deltas[key]))
                let erased = try erasedRows.multiplied(by: delta, transposingOther: true)
                let preserved = try preservedRows.multiplied(by: delta, transposingOther: true)
                let e = try Self.relativeError(erased, Self.matrix(expected.erased))
                let p = try Self.relativeError(preserved, Self.matrix(expected.preserved))
                XCTAssertLessThan(e, 1e-4, "\(c.name) \(key): erased rows")
                XCTAssertLessThan(p, 1e-4, "\(c.name) \(key): preserved rows")
            }
        }
    }

    /// The aligned windows of `edit_model`: last word tokens paired, both cut to one length.
    func testTokenWindowsAlignLastWordTokens() {
        let w = UCEMethod.tokenWindows(promptWords: 3, guideWords: 0, length: 8)
        XCTAssertEqual(w.prompt, 3..<8)
        XCTAssertEqual(w.guide, 0..<5)
        let v = UCEMethod.tokenWindows(promptWords: 2, guideWords: 4, length: 8)
        XCTAssertEqual(v.prompt, 2..<6)
        XCTAssertEqual(v.guide, 4..<8)
        // Truncated prompts: at most L − 2 word tokens.
        XCTAssertEqual(UCEMethod.tokenWindows(promptWords: 20, guideWords: 0, length: 8).prompt, 6..<8)
    }

    private struct Edit {
        let rows: (erased: DoubleMatrix, guides: DoubleMatrix, preserved: DoubleMatrix)
        let weights: [(String, DoubleMatrix)]
        let deltas: [String: DoubleMatrix]
    }

    private func edit(_ options: UCEOptions, concept: String = "a red circle") throws -> Edit {
        let model = try TinyErasure.model()
        let preserve = options.preserve.isEmpty ? [""] : options.preserve
        let rows = try UCEMethod.tokenRows(pipeline: model.pipeline, erase: [concept], guide: options.guide, preserve: preserve)
        let deltas = try UCEMethod.deltas(model: model, erase: [concept], guide: options.guide, preserve: preserve, options: options)
        return Edit(
            rows: rows, weights: try model.projections.keyValueProjections.map { ($0.0, try DoubleMatrix($0.1.weight)) },
            deltas: try deltas.mapValues { try DoubleMatrix($0) })
    }

    /// λ → ∞ keeps W: ΔW → 0 (as 1/λ).
    func testLargeLambdaLeavesTheWeights() throws {
        let e = try edit(UCEOptions(guide: "a striped blue star", lambda: 1e6))
        for (key, w) in e.weights {
            let ratio = try XCTUnwrap(e.deltas[key]).frobeniusNorm / w.frobeniusNorm
            XCTAssertLessThan(ratio, 1e-4, key)
        }
        let d = try edit(UCEOptions(guide: "a striped blue star"))
        XCTAssertGreaterThan(d.deltas.values.map(\.frobeniusNorm).max() ?? 0, 1e-2, "the default edit changes the weights")
    }

    /// A large preserve scale keeps the preserved prompts' keys and values: W' k ≈ W k.
    func testLargePreserveScaleKeepsPreservedOutputs() throws {
        func leak(_ scale: Double) throws -> Double {
            let e = try edit(UCEOptions(guide: "a striped blue star", preserve: ["zq watermark", "a blue square"], preserveScale: scale))
            return try e.weights.map { key, w in
                let original = try e.rows.preserved.multiplied(by: w, transposingOther: true)
                let change = try e.rows.preserved.multiplied(by: XCTUnwrap(e.deltas[key]), transposingOther: true)
                return change.frobeniusNorm / original.frobeniusNorm
            }.max() ?? 0
        }
        let kept = try leak(1e4)
        XCTAssertLessThan(kept, 1e-3)
        XCTAssertLessThan(kept, try leak(0.1) / 10)
    }

    /// The erased concept's keys and values move toward the guide's: |W' k − W g| < |W k − W g|.
    func testErasedOutputsMoveTowardTheGuide() throws {
        for guide in ["", "a striped blue star"] {
            let e = try edit(UCEOptions(guide: guide))
            for (key, w) in e.weights {
                let before = try e.rows.erased.multiplied(by: w, transposingOther: true)
                let target = try e.rows.guides.multiplied(by: w, transposingOther: true)
                let change = try e.rows.erased.multiplied(by: XCTUnwrap(e.deltas[key]), transposingOther: true)
                let gapBefore = try before.subtracting(target).frobeniusNorm
                let values = zip(before.values, change.values).map { $0 + $1 }
                let after = try DoubleMatrix(rows: before.rows, cols: before.cols, values: values)
                let gapAfter = try after.subtracting(target).frobeniusNorm
                XCTAssertLessThan(gapAfter, 0.5 * gapBefore, "guide '\(guide)' \(key)")
            }
        }
    }

    /// `ErasureRun` writes one dense UCE shift per concept that reads back and installs.
    func testRunWritesOneDenseShiftPerConcept() throws {
        let model = try TinyErasure.model()
        let dir = try TinyErasure.temporaryDirectory("uce")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try ErasurePlan(method: .uce, concepts: ["a red circle", "a blue square"], protectedPrompts: ["zq watermark"])
        let paths = try ErasureRun(plan: plan, output: dir).run(on: model)
        XCTAssertEqual(
            paths.map { URL(fileURLWithPath: $0).lastPathComponent }, ["a-red-circle.sepme.safetensors", "a-blue-square.sepme.safetensors"])
        let shifts = try paths.map { try ConceptShift.read(path: $0) }
        for s in shifts {
            XCTAssertEqual(s.metadata.method, .uce)
            XCTAssertEqual(s.metadata.uce?.preserve, ["zq watermark"])
            XCTAssertEqual(s.metadata.training.stopReason, .closedForm)
            XCTAssertFalse(s.metadata.restorable)
            XCTAssertEqual(s.deltas.count, model.projections.keyValueProjections.count)
            XCTAssertTrue(s.biasDeltas.isEmpty)
        }
        // Each concept alone: the first shift equals the closed form of its concept only.
        let alone = try UCEMethod.deltas(model: model, erase: ["a red circle"], guide: "", preserve: ["zq watermark"], options: UCEOptions())
        for (key, d) in alone {
            XCTAssertEqual(try XCTUnwrap(shifts[0].deltas[key]).scalars, d.scalars, key)
        }
        try model.install(shifts)
        XCTAssertEqual(model.installed.count, 2)
    }

    func testSettingsOfAnotherMethodAreRefusedByName() {
        func refused(_ field: String, mentions needle: String, _ make: () throws -> ErasurePlan) {
            XCTAssertThrowsError(try make()) { e in
                guard case ErasureError.invalidPlan(let f, let reason) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(f, field)
                XCTAssertTrue(reason.contains(needle), reason)
            }
        }
        refused("variant", mentions: "'joint' is a SepME variant") { try ErasurePlan(method: .uce, concepts: ["x"], variant: .joint) }
        refused("variant", mentions: "'full'") { try ErasurePlan(method: .uce, concepts: ["x"], variant: .full) }
        refused(UCEOptions.preserveKey, mentions: "no preserve set") {
            try ErasurePlan(concepts: ["x"], uce: UCEOptions(preserve: ["y"]))
        }
        refused(UCEOptions.guideKey, mentions: "'sepme'") { try ErasurePlan(concepts: ["x"], uce: UCEOptions(guide: "y")) }
        refused(UCEOptions.preserveKey, mentions: "erased and preserved") {
            try ErasurePlan(method: .uce, concepts: ["x"], uce: UCEOptions(preserve: ["X "]))
        }
        XCTAssertThrowsError(try ErasurePlan(method: .uce, concepts: ["x"], uce: UCEOptions(lambda: 0))) { e in
            XCTAssertEqual(e as? ErasureError, .outOfRange(key: UCEOptions.lambdaKey, value: "0.0", allowed: "(0, 1e6]"))
        }
        XCTAssertThrowsError(try ErasurePlan(method: .uce, concepts: ["x"], uce: UCEOptions(eraseScale: .nan))) { e in
            guard case ErasureError.outOfRange(let key, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(key, UCEOptions.eraseScaleKey)
        }
        XCTAssertThrowsError(try ErasurePlan(method: .uce, concepts: ["x"], uce: UCEOptions(preserveScale: -1))) { e in
            guard case ErasureError.outOfRange(let key, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(key, UCEOptions.preserveScaleKey)
        }
    }

    /// A UCE plan records its settings (the defaults when none are given) and reads back equal.
    func testPlanRoundTripsItsSettings() throws {
        let plan = try ErasurePlan(method: .uce, concepts: ["x"])
        XCTAssertEqual(plan.uce, UCEOptions())
        XCTAssertNil(try ErasurePlan(concepts: ["x"]).uce)
        let data = try JSONEncoder().encode(try ErasurePlan(method: .uce, concepts: ["x"], uce: UCEOptions(guide: "g", preserve: ["p"], lambda: 2)))
        let json = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(json.contains("\"erase_scale\""), json)
        let back = try JSONDecoder().decode(ErasurePlan.self, from: data)
        XCTAssertEqual(back.uce, UCEOptions(guide: "g", preserve: ["p"], lambda: 2))
    }
}
