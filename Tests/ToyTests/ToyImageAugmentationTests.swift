import TensorEngine
import XCTest
@testable import Toy

final class ToyImageAugmentationTests: XCTestCase {
    /// translate moves every plane by (dx, dy) and repeats the border pixel where nothing moves in.
    func testTranslationMovesContentAndRepeatsBorders() {
        let h = 4
        let w = 5
        let plane = h * w
        let values = (0..<(3 * plane)).map { Float($0) }
        let image = Tensor(values, shape: [1, 3, h, w])
        var scratch = [Float](repeating: 0, count: plane)
        ToyImageAugmentation.translate(image.pointer, height: h, width: w, dx: 2, dy: -1, scratch: &scratch)
        for c in 0..<3 {
            for y in 0..<h {
                for x in 0..<w {
                    let sy = min(h - 1, y + 1)
                    let sx = max(0, x - 2)
                    XCTAssertEqual(image.pointer[c * plane + y * w + x], values[c * plane + sy * w + sx], "c \(c) y \(y) x \(x)")
                }
            }
        }
    }

    /// The augmentation is a function of (images, seed), changes pictures, and keeps their count and shape.
    func testAugmentationIsDeterministicAndChangesPictures() {
        let batch = ToyDataset(seed: 3).batch(start: 0, count: 16)
        let a = ToyImageAugmentation.augment(batch.images, seed: 9)
        let b = ToyImageAugmentation.augment(batch.images, seed: 9)
        XCTAssertEqual(a.shape, batch.images.shape)
        XCTAssertEqual(a.scalars, b.scalars)
        let c = ToyImageAugmentation.augment(batch.images, seed: 10)
        XCTAssertNotEqual(a.scalars, c.scalars)
        let plane = 3 * 32 * 32
        let changed = (0..<16).filter { n in (0..<plane).contains { a.pointer[n * plane + $0] != batch.images.pointer[n * plane + $0] } }
        XCTAssertGreaterThanOrEqual(changed.count, 8, "most pictures get at least one degradation")
    }

    /// A model's samples place a pattern at any phase relative to the shape. Moving pictures of the
    /// periodic styles sideways by 1-3 px (the pattern's x phase changes, its y phase does not, the
    /// border pixels repeat) must not change what the bundled classifier reads.
    func testBundledClassifierReadsPatternsAtShiftedPhases() throws {
        let model = try ToyClassifier.bundled()
        let periodic = ["striped", "dotted", "checkered", "diagonal", "crosshatched", "zigzag"].compactMap { ToyConcepts.styles.firstIndex(of: $0) }
        XCTAssertEqual(periodic.count, 6)
        let samples = ToyDataset(seed: 77, watermarkPerMille: 0).batch(start: 0, count: 800).samples.filter { periodic.contains($0.style) }
        XCTAssertGreaterThan(samples.count, 350)
        let clean = ToyDataset.tensor(samples.map(\.image))
        var scratch = [Float](repeating: 0, count: 32 * 32)
        for dx in [1, 2, 3] {
            let moved = clean.copy()
            for n in 0..<samples.count {
                ToyImageAugmentation.translate(
                    moved.pointer + n * 3 * 32 * 32, height: 32, width: 32, dx: n % 2 == 0 ? dx : -dx, dy: 0, scratch: &scratch)
            }
            let styles = model.predict(moved).style
            let correct = zip(styles, samples).filter { $0.0 == $0.1.style }.count
            XCTAssertGreaterThanOrEqual(Double(correct) / Double(samples.count), 0.97, "x shift \(dx): \(correct) / \(samples.count)")
        }
    }
}
