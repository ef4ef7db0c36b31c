import ErasureEvaluation
import Toy
import XCTest

final class EvaluationPromptTests: XCTestCase {
    func testAttributesAreReadFromThePrompt() throws {
        let p = try EvaluationPrompt("a striped red circle")
        XCTAssertEqual(p.kind, .attributes)
        XCTAssertEqual(p.shape, ToyConcepts.shapes.firstIndex(of: "circle"))
        XCTAssertEqual(p.colour, ToyConcepts.colours.firstIndex(of: "red"))
        XCTAssertEqual(p.style, ToyConcepts.styles.firstIndex(of: "striped"))
        XCTAssertEqual(p.concept, "striped red circle")
        XCTAssertEqual(try EvaluationPrompt("zq watermark").kind, .watermark)
        XCTAssertEqual(try EvaluationPrompt("").kind, .blank)
    }

    func testUnknownConceptIsANamedError() {
        XCTAssertThrowsError(try EvaluationPrompt("van gogh")) { error in
            XCTAssertTrue("\(error)".contains("unknown concept 'van gogh'"), "\(error)")
        }
    }

    func testCorrectnessNeedsEveryNamedAttribute() throws {
        let p = try EvaluationPrompt("a red circle")
        let red = ToyConcepts.colours.firstIndex(of: "red")!
        let circle = ToyConcepts.shapes.firstIndex(of: "circle")!
        let pred = ToyClassifier.Predictions(
            shape: [circle, circle, (circle + 1) % 6], colour: [red, (red + 1) % 7, red],
            style: [0, 0, 0], watermark: [0, 0, 0])
        XCTAssertEqual((0..<3).map { p.correct(pred, index: $0, original: nil) }, [true, false, false])
        XCTAssertEqual(p.attributeAccuracy(pred)["colour"]!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(p.attributeAccuracy(pred)["shape"]!, 2.0 / 3, accuracy: 1e-12)
        // The blank prompt agrees with the original image's predictions or not.
        let blank = try EvaluationPrompt("")
        let other = ToyClassifier.Predictions(shape: [circle, circle, circle], colour: [red, red, red], style: [0, 0, 0], watermark: [0, 0, 0])
        XCTAssertEqual((0..<3).map { blank.correct(pred, index: $0, original: other) }, [true, false, false])
        XCTAssertEqual((0..<3).map { blank.correct(pred, index: $0, original: pred) }, [true, true, true])
    }
}
