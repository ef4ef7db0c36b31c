import ConceptErasure
import Foundation
import XCTest

/// An erasure plan is checked before any work: every refusal names the field and the value.
final class ErasurePlanTests: XCTestCase {
    private func assertRefused(
        _ field: String, mentions needle: String, file: StaticString = #filePath, line: UInt = #line,
        _ make: () throws -> ErasurePlan
    ) {
        XCTAssertThrowsError(try make(), file: file, line: line) { e in
            guard case ErasureError.invalidPlan(let f, let reason) = e else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertEqual(f, field, file: file, line: line)
            XCTAssertTrue(reason.contains(needle), reason, file: file, line: line)
        }
    }

    func testBadConceptListsAreRefused() {
        assertRefused("concepts", mentions: "no concept") { try ErasurePlan(concepts: []) }
        assertRefused("concepts", mentions: "concept 2 is empty") { try ErasurePlan(concepts: ["a red circle", "  "]) }
        assertRefused("concepts", mentions: "listed twice") { try ErasurePlan(concepts: ["Van Gogh", "van gogh "]) }
        // Two concepts whose shift files would overwrite each other.
        assertRefused("concepts", mentions: "a-red-circle.sepme.safetensors") { try ErasurePlan(concepts: ["a red circle", "A RED circle!"]) }
        assertRefused("protected", mentions: "also listed as protected") {
            try ErasurePlan(concepts: ["a red circle"], protectedPrompts: ["A Red Circle"])
        }
        assertRefused("decouple_from", mentions: "decouple from") {
            try ErasurePlan(concepts: ["a red circle"], decoupleFrom: ["a red circle"])
        }
    }

    func testHyperparametersOutOfRangeNameTheirKey() {
        func refused(_ key: String, _ change: (inout ErasureHyperparameters) -> Void) {
            var h = ErasureHyperparameters()
            change(&h)
            XCTAssertThrowsError(try ErasurePlan(concepts: ["x"], hyperparameters: h)) { e in
                guard case ErasureError.outOfRange(let k, _, _) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(k, key)
            }
        }
        refused("beta") { $0.beta = 1e30 }
        refused("beta") { $0.beta = .nan }
        refused("lr") { $0.learningRate = .infinity }
        refused("tau") { $0.tau = -1 }
        refused("generation_guidance") { $0.generationGuidance = .nan }
        refused("generation_steps") { $0.generationSteps = 0 }
        refused("images") { $0.images = 0 }
        refused("max_iterations") { $0.maxIterations = Int.max }
        refused("tolerance") { $0.nullSpaceTolerance = 2 }
    }

    /// The one place the decoupling set is assembled: protected prompts, the plan's other concepts,
    /// then the existing shifts' concepts; the metadata's record excludes the protected prompts.
    func testDecouplingSetsAndDefaults() throws {
        let plan = try ErasurePlan(concepts: ["a", "b", "c"], protectedPrompts: ["w"], decoupleFrom: ["old"])
        XCTAssertEqual(plan.decouplingPrompts(forConceptAt: 1), ["w", "a", "c", "old"])
        XCTAssertEqual(plan.decoupledFrom(conceptAt: 1), ["old", "a", "c"])
        XCTAssertEqual(plan.hyperparameters.learningRate, 0.1)
        let full = try ErasurePlan(concepts: ["a", "b"], variant: .full)
        XCTAssertEqual(full.decoupledFrom(conceptAt: 0), [])
        XCTAssertEqual(full.hyperparameters.learningRate, 1e-5)
    }

    /// A concept erased on several wordings: its prompts come first-named, without repeats; the
    /// other concepts are decoupled from every one of them; a wording two concepts share, a
    /// protected one or one of an unknown concept is refused.
    func testConceptPromptSets() throws {
        let plan = try ErasurePlan(
            concepts: ["striped", "dotted"], conceptPrompts: ["striped": ["a striped circle", "Striped", "a striped square"]],
            protectedPrompts: ["w"], decoupleFrom: ["old"])
        XCTAssertEqual(plan.prompts(ofConceptAt: 0), ["striped", "a striped circle", "a striped square"])
        XCTAssertEqual(plan.prompts(ofConceptAt: 1), ["dotted"])
        XCTAssertEqual(plan.decouplingPrompts(forConceptAt: 1), ["w", "striped", "a striped circle", "a striped square", "old"])
        XCTAssertEqual(plan.decouplingPrompts(forConceptAt: 0), ["w", "dotted", "old"])
        XCTAssertEqual(plan.decoupledFrom(conceptAt: 1), ["old", "striped", "a striped circle", "a striped square"])
        XCTAssertEqual(try JSONDecoder().decode(ErasurePlan.self, from: JSONEncoder().encode(plan)), plan)
        assertRefused("concept_prompts", mentions: "'solid' is not one of the concepts") {
            try ErasurePlan(concepts: ["striped"], conceptPrompts: ["solid": ["a solid circle"]])
        }
        assertRefused("concept_prompts", mentions: "empty prompt") { try ErasurePlan(concepts: ["striped"], conceptPrompts: ["striped": [" "]]) }
        assertRefused("concept_prompts", mentions: "belongs to both") {
            try ErasurePlan(concepts: ["striped", "dotted"], conceptPrompts: ["dotted": ["Striped"]])
        }
        assertRefused("protected", mentions: "also listed as protected") {
            try ErasurePlan(concepts: ["striped"], conceptPrompts: ["striped": ["a striped circle"]], protectedPrompts: ["a striped circle"])
        }
    }

    /// `decoupling: names`: each shift is decoupled from the other concepts' names alone (their
    /// further wordings are trained on, not kept); a plan without the key decouples from every
    /// wording; only SepME's decoupled variants take the setting.
    func testDecouplingFromNamesAlone() throws {
        let plan = try ErasurePlan(
            concepts: ["striped", "dotted"], conceptPrompts: ["striped": ["a striped circle"], "dotted": ["a dotted circle"]],
            protectedPrompts: ["w"], decoupleFrom: ["old"], decoupling: .names)
        XCTAssertEqual(plan.prompts(ofConceptAt: 0), ["striped", "a striped circle"])
        XCTAssertEqual(plan.decouplingPrompts(forConceptAt: 0), ["w", "dotted", "old"])
        XCTAssertEqual(plan.decouplingPrompts(forConceptAt: 1), ["w", "striped", "old"])
        XCTAssertEqual(plan.decoupledFrom(conceptAt: 1), ["old", "striped"])
        let data = try JSONEncoder().encode(plan)
        XCTAssertEqual(try JSONDecoder().decode(ErasurePlan.self, from: data), plan)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["decoupling"] as? String, "names")
        object["decoupling"] = nil
        let older = try JSONDecoder().decode(ErasurePlan.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(older.decoupling, .wordings)
        XCTAssertEqual(older.decouplingPrompts(forConceptAt: 1), ["w", "striped", "a striped circle", "old"])
        assertRefused("decoupling", mentions: "the method 'uce' decouples nothing") {
            try ErasurePlan(method: .uce, concepts: ["striped", "dotted"], decoupling: .names)
        }
        assertRefused("decoupling", mentions: "the variant 'full' decouples nothing") {
            try ErasurePlan(concepts: ["striped", "dotted"], decoupling: .names, variant: .full)
        }
    }

    func testPlanRoundTripsAndADecodedPlanIsChecked() throws {
        let plan = try ErasurePlan(concepts: ["a red circle"], protectedPrompts: ["zq watermark"], variant: .joint)
        let data = try JSONEncoder().encode(plan)
        XCTAssertEqual(try JSONDecoder().decode(ErasurePlan.self, from: data), plan)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["concepts"] = ["a red circle", "A RED circle!"]
        XCTAssertThrowsError(try JSONDecoder().decode(ErasurePlan.self, from: JSONSerialization.data(withJSONObject: object)))
    }
}
