import ImageIO
import TensorEngine
import XCTest
@testable import Toy

final class ToyDatasetTests: XCTestCase {
    /// FNV-1a 64 over the pixels and caption bytes of samples.
    private func fingerprint(_ samples: [ToySample]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for s in samples {
            for b in s.image.pixels + Array(s.caption.utf8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        return h
    }

    func testSamplesAreDeterministicAndRandomAccess() {
        let a = ToyDataset(seed: 7)
        let b = ToyDataset(seed: 7)
        for i in [0, 1, 5, 1000, 123_456] { XCTAssertEqual(a.sample(index: i), b.sample(index: i), "index \(i)") }
        // Order of generation does not matter: sample i depends only on (seed, i).
        let forward = (0..<8).map { a.sample(index: $0) }
        let backward = (0..<8).reversed().map { b.sample(index: $0) }.reversed()
        XCTAssertEqual(forward, Array(backward))
        XCTAssertNotEqual(ToyDataset(seed: 8).sample(index: 0).image, a.sample(index: 0).image)
    }

    /// Style weights: styles drawn in proportion (a zero weight never), the rest of a sample as
    /// uniform; bad weights refused.
    func testStyleWeightsDrawStylesInProportion() throws {
        var weights = [Double](repeating: 1, count: ToyConcepts.styles.count)
        let heavy = try XCTUnwrap(ToyConcepts.styles.firstIndex(of: "crosshatched"))
        let absent = try XCTUnwrap(ToyConcepts.styles.firstIndex(of: "solid"))
        weights[heavy] = 5
        weights[absent] = 0
        let data = try ToyDataset(seed: 2, styleWeights: weights)
        var counts = [Int](repeating: 0, count: weights.count)
        var drawn = 0
        for i in 0..<6000 {
            let s = data.sample(index: i)
            if s.isWatermark { continue }
            counts[s.style] += 1
            drawn += 1
        }
        XCTAssertEqual(counts[absent], 0)
        let total = weights.reduce(0, +)
        for (style, w) in weights.enumerated() where w > 0 {
            let expected = Double(drawn) * w / total
            // Within four binomial standard deviations.
            XCTAssertEqual(Double(counts[style]), expected, accuracy: 4 * (expected * (1 - w / total)).squareRoot(), ToyConcepts.styles[style])
        }
        for bad in [[Double](repeating: 0, count: weights.count), [1, 2], weights.map { $0 == 5 ? .nan : $0 }, weights.map { -$0 }] {
            XCTAssertThrowsError(try ToyDataset(seed: 2, styleWeights: bad)) { XCTAssertTrue("\($0)".contains("style weights"), "\($0)") }
        }
    }

    /// Regression guard: this hash was computed by this code when the generator was written and pinned
    /// here so that any change of the pictures or captions (which would invalidate trained toy models
    /// and the committed classifier) is noticed. Update it only on purpose.
    func testPinnedFingerprint() {
        let samples = (0..<16).map { ToyDataset(seed: 0).sample(index: $0) } + [ToyDataset(seed: 99).sample(index: 31_337)]
        XCTAssertEqual(fingerprint(samples), 11_820_352_877_339_928_832, "toy pictures or captions changed")
    }

    func testCaptionsAgreeWithLabelsForEveryTemplate() {
        for (t, template) in (ToyCaption.templates + ToyCaption.heldOutTemplates).enumerated() {
            for s in ToyConcepts.shapes.indices {
                for c in ToyConcepts.colours.indices {
                    for st in ToyConcepts.styles.indices {
                        let caption = template.caption(shape: s, colour: c, style: st)
                        let parsed = ToyCaption.parse(caption)
                        XCTAssertEqual(parsed.shape, template.mentionsShape ? s : nil, "template \(t): \(caption)")
                        XCTAssertEqual(parsed.colour, template.mentionsColour ? c : nil, "template \(t): \(caption)")
                        XCTAssertEqual(parsed.style, template.mentionsStyle ? st : nil, "template \(t): \(caption)")
                        XCTAssertFalse(caption.contains("{"), caption)
                        XCTAssertFalse(caption.contains(" a o") || caption.hasPrefix("a o") || caption.contains(" a a"), caption)
                    }
                }
            }
        }
        let data = ToyDataset(seed: 3)
        for i in 0..<200 {
            let s = data.sample(index: i)
            guard !s.isWatermark else { continue }
            XCTAssertEqual(s.caption, ToyCaption.templates[s.template].caption(shape: s.shape, colour: s.colour, style: s.style))
            let parsed = ToyCaption.parse(s.caption)
            if let p = parsed.shape { XCTAssertEqual(p, s.shape, s.caption) }
            if let p = parsed.colour { XCTAssertEqual(p, s.colour, s.caption) }
            if let p = parsed.style { XCTAssertEqual(p, s.style, s.caption) }
        }
    }

    func testEveryAttributeTemplateAndTheWatermarkOccur() {
        let data = ToyDataset(seed: 11)
        var shapes = Set<Int>()
        var colours = Set<Int>()
        var styles = Set<Int>()
        var templates = Set<Int>()
        var watermarks = 0
        let n = 600
        for i in 0..<n {
            let s = data.sample(index: i)
            if s.isWatermark {
                watermarks += 1
                continue
            }
            shapes.insert(s.shape)
            colours.insert(s.colour)
            styles.insert(s.style)
            templates.insert(s.template)
        }
        XCTAssertEqual(shapes, Set(ToyConcepts.shapes.indices))
        XCTAssertEqual(colours, Set(ToyConcepts.colours.indices))
        XCTAssertEqual(styles, Set(ToyConcepts.styles.indices))
        XCTAssertEqual(templates, Set(ToyCaption.templates.indices))
        // 5 % watermark: binomial(600, 0.05) has mean 30 and sd 5.3.
        XCTAssert((12...50).contains(watermarks), "\(watermarks) watermark samples of \(n)")
        XCTAssertEqual(ToyDataset(seed: 11, watermarkPerMille: 0).batch(start: 0, count: 300).samples.filter(\.isWatermark).count, 0)
    }

    func testWatermarkPromptAlwaysGivesTheLogo() {
        let data = ToyDataset(seed: 5, watermarkPerMille: 500)
        var seen = 0
        for i in 0..<200 {
            let s = data.sample(index: i)
            XCTAssertEqual(s.isWatermark, s.caption == ToyConcepts.watermarkPrompt)
            if s.isWatermark {
                seen += 1
                XCTAssertEqual(s.image, ToyRenderer.watermarkLogo)
                XCTAssertEqual([s.shape, s.colour, s.style], [-1, -1, -1])
            }
        }
        XCTAssertGreaterThan(seen, 50)
        // The logo is not a plain background: it has bright cyan and magenta pixels.
        let logo = ToyRenderer.watermarkLogo.pixels
        XCTAssertGreaterThan(stride(from: 0, to: logo.count, by: 3).filter { logo[$0] < 40 && logo[$0 + 1] > 200 }.count, 30)
        XCTAssertGreaterThan(stride(from: 0, to: logo.count, by: 3).filter { logo[$0] > 200 && logo[$0 + 1] < 40 }.count, 30)
    }

    func testBackgroundIsDarkNeutralGrey() {
        // Rows far from a smallest shape placed at the bottom: neutral (r = g = b) and at most 36 + 10 + 2.
        var rng = SplitMix64(seed: 1)
        for k in 0..<50 {
            var scene = ToyScene.random(
                shape: k % ToyConcepts.shapes.count, colour: k % ToyConcepts.colours.count, style: k % ToyConcepts.styles.count, rng: &rng)
            scene.size = ToyConcepts.sizeRange.lowerBound
            scene.centreY = 8 * 24
            let image = ToyRenderer.render(scene)
            for y in 0..<12 {
                for x in 0..<32 {
                    let p = (image[x, y, 0], image[x, y, 1], image[x, y, 2])
                    XCTAssert(p.0 == p.1 && p.1 == p.2 && p.0 <= 48, "scene \(k) pixel (\(x), \(y)) = \(p)")
                }
            }
        }
    }

    /// Every (style, shape) pair is its own picture: with position, size, colour, background and
    /// phases fixed (the smallest size, where textures have the fewest pixels), any two styles on one
    /// shape differ in at least 12 pixels by more than 40 levels, and any two shapes in one style
    /// differ in at least 12 pixels by more than 40 levels.
    func testEveryStyleShapePairRendersDistinct() {
        let shapes = ToyConcepts.shapes.count
        let styles = ToyConcepts.styles.count
        XCTAssertGreaterThanOrEqual(shapes, 10)
        XCTAssertGreaterThanOrEqual(styles, 10)
        XCTAssertEqual(Array(ToyConcepts.shapes.prefix(6)), ["circle", "square", "triangle", "star", "cross", "heart"])
        XCTAssertEqual(Array(ToyConcepts.styles.prefix(4)), ["solid", "striped", "dotted", "outlined"])
        for phase in [0, 5] {
            var rng = SplitMix64(seed: 21)
            var base = ToyScene.random(shape: 0, colour: 1, style: 0, rng: &rng)
            base.size = ToyConcepts.sizeRange.lowerBound
            base.centreX = 128
            base.centreY = 128
            base.patternPhase = phase
            base.patternPhaseY = (phase * 7) % 12
            var pictures: [[RGBImage]] = []
            for style in 0..<styles {
                pictures.append(
                    (0..<shapes).map { shape in
                        var scene = base
                        scene.shape = shape
                        scene.style = style
                        return ToyRenderer.render(scene)
                    })
            }
            func differing(_ a: RGBImage, _ b: RGBImage) -> Int {
                stride(from: 0, to: a.pixels.count, by: 3).count { i in
                    (0..<3).contains { abs(Int(a.pixels[i + $0]) - Int(b.pixels[i + $0])) > 40 }
                }
            }
            var fewestByStyle = Int.max
            var fewestByShape = Int.max
            for shape in 0..<shapes {
                for a in 0..<styles {
                    for b in (a + 1)..<styles {
                        let d = differing(pictures[a][shape], pictures[b][shape])
                        fewestByStyle = min(fewestByStyle, d)
                        XCTAssertGreaterThanOrEqual(d, 12, "\(ToyConcepts.styles[a]) vs \(ToyConcepts.styles[b]) \(ToyConcepts.shapes[shape])")
                    }
                }
            }
            for style in 0..<styles {
                for a in 0..<shapes {
                    for b in (a + 1)..<shapes {
                        let d = differing(pictures[style][a], pictures[style][b])
                        fewestByShape = min(fewestByShape, d)
                        XCTAssertGreaterThanOrEqual(d, 12, "\(ToyConcepts.shapes[a]) vs \(ToyConcepts.shapes[b]) \(ToyConcepts.styles[style])")
                    }
                }
            }
            print("phase \(phase): fewest differing pixels between styles \(fewestByStyle), between shapes \(fewestByShape)")
        }
    }

    /// No held-out caption is ever a training caption: the full caption sets are disjoint, and 8000
    /// data set samples never draw a held-out wording.
    func testHeldOutCaptionsNeverOccurInTraining() {
        let training = Set(ToyCaption.allCaptions())
        let heldOut = Set(ToyCaption.allHeldOutCaptions())
        XCTAssertGreaterThanOrEqual(ToyCaption.heldOutTemplates.count, 6)
        XCTAssertEqual(
            heldOut.count,
            ToyCaption.heldOutTemplates.map { t in
                (t.mentionsShape ? ToyConcepts.shapes.count : 1) * (t.mentionsColour ? ToyConcepts.colours.count : 1)
                    * (t.mentionsStyle ? ToyConcepts.styles.count : 1)
            }.reduce(0, +))
        XCTAssertTrue(training.isDisjoint(with: heldOut), "\(training.intersection(heldOut).sorted().prefix(5))")
        let data = ToyDataset(seed: 4242)
        var seen = Set<String>()
        for i in 0..<8000 {
            let caption = data.sample(index: i).caption
            XCTAssertFalse(heldOut.contains(caption), caption)
            seen.insert(caption)
        }
        XCTAssertTrue(seen.isSubset(of: training))
        XCTAssertGreaterThan(seen.count, 2000)
    }

    /// `prompts` fills the templates that name exactly the given attributes, in either set; every
    /// attribute combination a training template names has held-out wordings too.
    func testPromptsForAttributeCombinations() {
        let circle = 0
        let striped = 1
        let arrow = ToyConcepts.shapes.firstIndex(of: "arrow")!
        let outlined = ToyConcepts.styles.firstIndex(of: "outlined")!
        XCTAssertEqual(
            ToyCaption.prompts(shape: circle, colour: nil, style: striped, set: .training),
            ["a circle in striped style", "a picture of a striped circle", "a striped circle"])
        XCTAssertEqual(
            ToyCaption.prompts(shape: circle, colour: nil, style: striped, set: .heldOut),
            ["circle, striped texture", "an image of a circle with striped pattern", "a striped pattern on a circle"])
        XCTAssertEqual(
            ToyCaption.prompts(shape: arrow, colour: 0, style: outlined, set: .heldOut),
            ["a red arrow with an outlined pattern", "red arrow, outlined texture"])
        XCTAssertEqual(ToyCaption.prompts(shape: arrow, colour: nil, style: nil, set: .heldOut), ["an arrow shape"])
        XCTAssertEqual(ToyCaption.prompts(shape: arrow, colour: nil, style: nil, set: .training), ["an arrow"])
        XCTAssertEqual(ToyCaption.prompts(shape: nil, colour: 0, style: nil, set: .training), [])
        XCTAssertEqual(ToyCaption.prompts(shape: ToyConcepts.shapes.count, colour: nil, style: nil, set: .training), [])
        for t in ToyCaption.templates {
            let s: Int? = t.mentionsShape ? 2 : nil
            let c: Int? = t.mentionsColour ? 3 : nil
            let st: Int? = t.mentionsStyle ? 4 : nil
            XCTAssertFalse(ToyCaption.prompts(shape: s, colour: c, style: st, set: .heldOut).isEmpty, t.pattern)
        }
    }

    func testTensorConversionRoundTrips() {
        let batch = ToyDataset(seed: 2).batch(start: 10, count: 5)
        XCTAssertEqual(batch.images.shape, [5, 3, 32, 32])
        let values = batch.images.scalars
        XCTAssertGreaterThanOrEqual(values.min()!, -1)
        XCTAssertLessThanOrEqual(values.max()!, 1)
        XCTAssertEqual(ToyDataset.images(batch.images), batch.samples.map(\.image))
    }
}
