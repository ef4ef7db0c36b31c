@testable import ConceptErasure
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// Plans fixed before training (`ErasurePlanFile`), trained one index at a time (`ErasureRun.index`),
/// and checked as a set (`ShiftInterference`), on the tiny model (text width 64, 8-token prompts).
final class ErasurePlanFileTests: XCTestCase {
    var model: ShiftSet!
    let watermark = "zq watermark"
    let three = ["a red circle", "a blue square", "a green triangle"]
    /// More concepts than the tiny model's exact null space holds (about eight 8-token prompts).
    let many = ["red", "blue", "green", "yellow"].flatMap { c in ["circle", "square", "triangle"].map { "a \(c) \($0)" } }

    override func setUpWithError() throws { model = try TinyErasure.model() }

    func testPlanFileRoundTripsWithEveryConceptsNullSpace() throws {
        let plan = try ErasurePlan(concepts: three, protectedPrompts: [watermark], hyperparameters: TinyErasure.hyperparameters())
        let file = try ErasurePlanFile.make(plan: plan, modelPath: TinyErasure.folder, model: model)
        XCTAssertEqual(file.plan, plan, "an exact null space exists: the plan is kept as asked")
        XCTAssertEqual(file.model.fingerprint, model.fingerprint)
        XCTAssertEqual(file.imageSeeds, [0, 1])
        XCTAssertEqual(file.concepts.map(\.shiftFile), three.map(ErasurePlan.shiftFileName))
        for c in file.concepts {
            let ns = try XCTUnwrap(c.nullSpace)
            XCTAssertEqual(ns.mode, .exact)
            XCTAssertGreaterThan(ns.dimension, 0)
            XCTAssertLessThan(try XCTUnwrap(c.leakBound), 1e-12, "an exact null space leaks at float64 rounding only")
        }
        let dir = try TinyErasure.temporaryDirectory("planfile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("plan.json").path
        try file.write(to: path)
        XCTAssertEqual(try ErasurePlanFile.read(path: path), file)
    }

    /// The rung at which the worst-off concept keeps the largest share of the reach it has
    /// decoupled from the blank and protected prompts alone: no rung of the ladder does better, and
    /// the share is recomputed here from each rung's own decoupling.
    func testTooManyConceptsForTheExactNullSpaceGetTheToleranceThatKeepsMostReach() throws {
        let colours = ["red", "blue", "green"]
        let wordings = Dictionary(
            uniqueKeysWithValues: colours.map { c in (c, ["circle", "square", "triangle", "star", "cross", "heart"].map { "a \(c) \($0)" }) })
        let plans = [
            try ErasurePlan(concepts: many, hyperparameters: TinyErasure.hyperparameters()),
            try ErasurePlan(
                concepts: colours, conceptPrompts: wordings, protectedPrompts: [watermark], hyperparameters: TinyErasure.hyperparameters())
        ]
        for plan in plans {
            let all = Array(plan.concepts.indices)
            XCTAssertThrowsError(try SepMEMethod.decouple(plan: plan, concepts: all, model: model))
            let file = try ErasurePlanFile.make(plan: plan, modelPath: TinyErasure.folder, model: model)
            let alone = try SepMEMethod.decouple(plan: plan, concepts: all, model: model, alone: true)
            func worstShare(_ d: [Int: ConceptDecoupling]) throws -> Double {
                try all.map { k in try XCTUnwrap(d[k]).conceptReach / XCTUnwrap(alone[k]).conceptReach }.min() ?? 0
            }
            let tolerance = try XCTUnwrap(file.plan.hyperparameters.nullSpaceTolerance)
            let chosen = try worstShare(try SepMEMethod.decouple(plan: file.plan, concepts: all, model: model))
            XCTAssertGreaterThan(chosen, 0)
            for other in NullSpaceTolerance.ladder where other != tolerance {
                guard let d = try? SepMEMethod.decouple(plan: plan.withNullSpaceTolerance(other), concepts: all, model: model) else { continue }
                XCTAssertLessThanOrEqual(try worstShare(d), chosen, "tolerance \(other) keeps more reach than \(tolerance)")
            }
            for c in file.concepts {
                XCTAssertEqual(c.nullSpace?.mode, .tolerance)
                XCTAssertGreaterThan(try XCTUnwrap(c.leakBound), 0)
                XCTAssertEqual(c.nullSpace?.relativeLeak, c.leakBound)
            }
        }
    }

    /// The rule on its own: the largest smallest share of the reach alone, the smaller rung on a
    /// tie, rungs without a null space skipped.
    func testTheRungKeepsTheLargestWorstShareOfReach() {
        let alone = [0.4, 0.36]
        // Shares (worst): none, 0.025, 0.47, 0.53, 0.5: the fourth rung.
        XCTAssertEqual(NullSpaceTolerance.rung(reaches: [nil, [0.01, 0.02], [0.21, 0.17], [0.25, 0.19], [0.3, 0.18]], alone: alone), 3)
        XCTAssertEqual(NullSpaceTolerance.rung(reaches: [nil, [0.01, 0.02], [0.1, 0.1]], alone: alone), 2)
        XCTAssertEqual(NullSpaceTolerance.rung(reaches: [[0.3, 0.3], [0.3, 0.3]], alone: alone), 0)
        XCTAssertEqual(NullSpaceTolerance.rung(reaches: [nil, [0.1, 0.1]], alone: [0, 0]), 1, "no reach alone: the first null space")
        XCTAssertNil(NullSpaceTolerance.rung(reaches: [nil, nil], alone: alone))
    }

    /// ℓ_k bounds the leak of ANY shift in concept k's null space onto every prompt it must keep;
    /// a dense shift breaks it.
    func testLeakBoundHoldsForAnyShiftInTheNullSpaceAndCatchesADenseOne() throws {
        let plan = try ErasurePlan(concepts: many, protectedPrompts: [watermark], hyperparameters: TinyErasure.hyperparameters())
        let file = try ErasurePlanFile.make(plan: plan, modelPath: TinyErasure.folder, model: model)
        let resolved = file.plan
        let d = try XCTUnwrap(SepMEMethod.decouple(plan: resolved, concepts: [0], model: model)[0])
        var rng = TestRNG(seed: 11)
        let factors = Dictionary(
            uniqueKeysWithValues: model.projections.keyValueProjections.map { key, linear in
                (key, rng.tensor([linear.outFeatures, d.report.dimension], -1, 1))
            })
        let metadata = ShiftMetadata(
            variant: .separate, concepts: [many[0]], protectedPrompts: [watermark], decoupledFrom: Array(many.dropFirst()),
            baseFingerprint: model.fingerprint, hyperparameters: resolved.hyperparameters,
            training: TrainingRecord(stopReason: .closedForm, seconds: 0),
            nullSpace: d.report, restorable: true, toolVersion: SepMEInfo.version)
        let inside = ConceptShift(metadata: metadata, beta: 1, basis: d.basis, factors: factors)
        let measured = try ShiftInterference(model: model, shifts: [(inside, file.concepts[0].leakBound)], protectedPrompts: [watermark])
        XCTAssertTrue(measured.passed, "\(measured.violations)")
        XCTAssertEqual(measured.checkedPairs, 2, "the watermark and the blank prompt")
        XCTAssertGreaterThan(measured.relativeChange[0][0], 1e-3, "the shift changes its own concept")
        let dense = ConceptShift(
            metadata: metadata,
            weights: .dense(
                deltas: Dictionary(
                    uniqueKeysWithValues: model.projections.keyValueProjections.map { key, linear in
                        (key, rng.tensor([linear.outFeatures, linear.inFeatures], -1, 1))
                    }),
                biases: [:]))
        let broken = try ShiftInterference(model: model, shifts: [(dense, file.concepts[0].leakBound)], protectedPrompts: [watermark])
        XCTAssertFalse(broken.passed)
        XCTAssertEqual(Set(broken.violations.map(\.column)), [watermark, ""])
    }

    func testOneIndexAtATimeEqualsTheWholePlanAndAFinishedIndexIsKept() throws {
        let plan = try ErasurePlan(
            concepts: three, protectedPrompts: [watermark], hyperparameters: TinyErasure.hyperparameters(maxIterations: 4))
        let whole = try TinyErasure.temporaryDirectory("plan-whole")
        let split = try TinyErasure.temporaryDirectory("plan-split")
        defer {
            try? FileManager.default.removeItem(at: whole)
            try? FileManager.default.removeItem(at: split)
        }
        let all = try ErasureRun(plan: plan, output: whole, checkpoints: .onInterruption).run(on: model)
        for k in [2, 0, 1] {
            let written = try ErasureRun(plan: plan, output: split, checkpoints: .onInterruption, index: k).run(on: model)
            XCTAssertEqual(written, [split.appendingPathComponent(ErasurePlan.shiftFileName(three[k])).path])
        }
        for (k, path) in all.enumerated() {
            let a = try ConceptShift.read(path: path)
            let b = try ConceptShift.read(path: split.appendingPathComponent(ErasurePlan.shiftFileName(three[k])).path)
            for key in a.projectionKeys {
                XCTAssertEqual(a.weightDelta(for: key)?.scalars, b.weightDelta(for: key)?.scalars, "\(three[k]) \(key)")
            }
            XCTAssertEqual(a.metadata.nullSpace?.dimension, b.metadata.nullSpace?.dimension)
        }
        let path = split.appendingPathComponent(ErasurePlan.shiftFileName(three[1])).path
        let before = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        var messages: [String] = []
        _ = try ErasureRun(plan: plan, output: split, index: 1).run(on: model, observer: ErasureObserver(message: { messages.append($0) }))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date, before)
        XCTAssertTrue(messages.contains { $0.contains("already erased") }, "\(messages)")
    }

    func testIndexRunsAreRefusedWhereTheyCannotWork() throws {
        let dir = try TinyErasure.temporaryDirectory("plan-refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let joint = try ErasurePlan(concepts: three, variant: .joint, hyperparameters: TinyErasure.hyperparameters(variant: .joint))
        XCTAssertThrowsError(try ErasureRun(plan: joint, output: dir, index: 0).run(on: model)) {
            XCTAssertTrue("\($0)".contains("trains all concepts together"), "\($0)")
        }
        let plan = try ErasurePlan(concepts: three, hyperparameters: TinyErasure.hyperparameters())
        XCTAssertThrowsError(try ErasureRun(plan: plan, output: dir, index: 3).run(on: model)) {
            XCTAssertEqual($0 as? ErasureError, .invalidPlan(field: "index", reason: "index 3 is outside the plan's concepts 0...2"))
        }
    }

    func testBrokenPlanFilesNameWhatIsWrong() throws {
        let plan = try ErasurePlan(concepts: three, hyperparameters: TinyErasure.hyperparameters())
        let file = try ErasurePlanFile.make(plan: plan, modelPath: TinyErasure.folder, model: model)
        let dir = try TinyErasure.temporaryDirectory("plan-broken")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("plan.json").path
        func refused(_ edit: (inout [String: Any]) -> Void, mentions needle: String, line: UInt = #line) throws {
            try file.write(to: path)
            var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ErasurePlanFile.read(path: path), line: line) {
                guard case .planFile(let p, let reason)? = $0 as? ErasureError else { return XCTFail("\($0)", line: line) }
                XCTAssertEqual(p, path, line: line)
                XCTAssertTrue(reason.contains(needle), "'\(reason)' should mention '\(needle)'", line: line)
            }
        }
        try refused({ $0["format"] = "other" }, mentions: "'format'")
        try refused({ $0["version"] = 9 }, mentions: "'version'")
        try refused({ $0["model"] = nil }, mentions: "'model'")
        try refused({ json in json["concepts"] = (json["concepts"] as? [Any]).map { Array($0.dropLast()) } }, mentions: "'concepts'")
        try refused(
            { json in
                var p = json["plan"] as? [String: Any] ?? [:]
                p["concepts"] = ["a red circle", "a red circle", "x"]
                json["plan"] = p
            }, mentions: "listed twice")
        try "{".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ErasurePlanFile.read(path: path))
        XCTAssertThrowsError(try ErasurePlanFile.read(path: dir.appendingPathComponent("absent.json").path)) {
            XCTAssertTrue("\($0)".contains("cannot be read"), "\($0)")
        }
    }
}
