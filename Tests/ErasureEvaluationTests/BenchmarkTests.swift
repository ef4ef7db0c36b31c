import ConceptErasure
@testable import ErasureEvaluation
import ImageIO
import Toy
import XCTest

/// The benchmark's prompt grid and scores against hand-computed cases.
final class BenchmarkTests: XCTestCase {
    let v1Shapes = Array(0..<6)
    let v1Styles = Array(0..<4)
    let colours = Array(0..<7)

    func grid(_ kind: BenchmarkPromptGrid.Kind, _ label: Int, _ set: ToyTemplateSet) -> BenchmarkPromptGrid {
        BenchmarkPromptGrid(target: .init(kind: kind, label: label), templateSet: set, shapes: v1Shapes, styles: v1Styles, colours: colours)
    }

    func testStyleTargetGrid() {
        for set in ToyTemplateSet.allCases {
            let g = grid(.style, 1, set)  // striped
            // UA: 6 objects × striped; IRA: 6 objects × 3 other styles; CRA: 6 objects, each in one colour.
            XCTAssertEqual([g.ua.count, g.ira.count, g.cra.count], [6, 18, 6], "\(set)")
            XCTAssertTrue(g.ua.allSatisfy { $0.style == 1 && $0.colour == nil })
            XCTAssertEqual(Set(g.ua.map(\.shape)), Set(v1Shapes))
            XCTAssertTrue(g.ira.allSatisfy { $0.style != 1 && $0.style != nil && $0.colour == nil })
            XCTAssertEqual(Set(g.ira.map { "\($0.shape)-\($0.style!)" }).count, 18)
            XCTAssertTrue(g.cra.allSatisfy { $0.style == nil && $0.colour != nil })
            // Shape k is drawn in colour k mod 7: six shapes, six colours.
            XCTAssertEqual(g.cra.map(\.shape), v1Shapes)
            XCTAssertEqual(g.cra.map { $0.colour! }, v1Shapes.map { $0 % 7 })
            XCTAssertEqual(Set(g.all.map(\.prompt)).count, 30, "every prompt distinct")
        }
        // One prompt per combination: template (shape + attribute labels) mod the matching templates.
        let t = grid(.style, 1, .training)
        XCTAssertEqual(t.ua[0].prompt, "a picture of a striped circle")  // (0 + 1) % 3 = 1
        XCTAssertEqual(t.ua[1].prompt, "a striped square")  // (1 + 1) % 3 = 2
        XCTAssertEqual(t.cra[0].prompt, "a red circle")  // (0 + 0) % 4 = 0
        XCTAssertEqual(t.cra[2].prompt, "a blue triangle")  // triangle in blue: (2 + 2) % 4 = 0
        XCTAssertEqual(t.cra[3].prompt, "a drawing of a yellow star on a dark background")  // (3 + 3) % 4 = 2
        let h = grid(.style, 1, .heldOut)
        XCTAssertEqual(h.ua[0].prompt, "an image of a circle with striped pattern")
        XCTAssertEqual(h.cra[0].prompt, "an illustration of a red circle")
    }

    func testObjectTargetGrid() {
        let g = grid(.object, 0, .training)  // circle
        // UA: circle × 4 styles; IRA: 5 other objects, each in its colour; CRA: 5 other objects × 4 styles.
        XCTAssertEqual([g.ua.count, g.ira.count, g.cra.count], [4, 5, 20])
        XCTAssertEqual(g.ira.map { $0.colour! }, [1, 2, 3, 4, 5])
        XCTAssertTrue(g.ua.allSatisfy { $0.shape == 0 && $0.style != nil })
        XCTAssertTrue(g.ira.allSatisfy { $0.shape != 0 && $0.colour != nil && $0.style == nil })
        XCTAssertTrue(g.cra.allSatisfy { $0.shape != 0 && $0.style != nil && $0.colour == nil })
        // The union holds every target's prompts.
        let union = Set(BenchmarkPromptGrid.union(templateSet: .training, shapes: v1Shapes, styles: v1Styles, colours: colours).map(\.prompt))
        XCTAssertEqual(union.count, 24 + 6)
        for target in [grid(.object, 3, .training), grid(.style, 2, .training)] {
            XCTAssertTrue(Set(target.all.map(\.prompt)).isSubset(of: union))
        }
    }

    func readings(_ pairs: [(String, shape: [Int], colour: [Int], style: [Int])]) -> [String: ToyClassifier.Predictions] {
        Dictionary(
            uniqueKeysWithValues: pairs.map {
                ($0.0, ToyClassifier.Predictions(shape: $0.shape, colour: $0.colour, style: $0.style, watermark: $0.shape.map { _ in 0 }))
            })
    }

    func testStyleScoresOnHandMadeReadings() throws {
        // Shapes circle, square; styles solid, striped; colour red; target striped.
        let g = BenchmarkPromptGrid(target: .init(kind: .style, label: 1), templateSet: .training, shapes: [0, 1], styles: [0, 1], colours: [0])
        XCTAssertEqual(g.ua.map(\.prompt), ["a picture of a striped circle", "a striped square"])
        XCTAssertEqual(g.ira.map(\.prompt), ["a circle in solid style", "a picture of a solid square"])
        XCTAssertEqual(g.cra.map(\.prompt), ["a red circle", "a photo of a red square"])
        let r = readings([
            ("a picture of a striped circle", [0, 0], [0, 0], [1, 0]),  // 1 of 2 no longer striped
            ("a striped square", [1, 1], [0, 0], [2, 3]),  // 2 of 2
            ("a circle in solid style", [0, 0], [0, 0], [0, 0]),  // 2 of 2 solid
            ("a picture of a solid square", [1, 1], [0, 0], [0, 1]),  // 1 of 2
            ("a red circle", [0, 0], [0, 1], [0, 0]),  // shape and colour right in 1 of 2
            ("a photo of a red square", [1, 0], [0, 0], [0, 0])  // 1 of 2
        ])
        let s = try BenchmarkScores(grid: g, readings: r)
        XCTAssertEqual(s.ua, 0.75)
        XCTAssertEqual(s.ira, 0.75)
        XCTAssertEqual(s.cra, 0.5)
        XCTAssertEqual(s.harmonicMean, 3 / (4.0 / 3 + 4.0 / 3 + 2), accuracy: 1e-12)
        XCTAssertEqual(s.uaByConcept, ["circle": 0.5, "square": 1])
        XCTAssertEqual(s.iraByConcept, ["solid": 0.75])
        XCTAssertEqual(BenchmarkScores.harmonicMean([1, 0, 1]), 0)
        var missing = r
        missing["a red circle"] = nil
        XCTAssertThrowsError(try BenchmarkScores(grid: g, readings: missing))
    }

    func testObjectScoresOnHandMadeReadings() throws {
        // Target circle; shapes circle, square; styles solid, striped; colour red.
        let g = BenchmarkPromptGrid(target: .init(kind: .object, label: 0), templateSet: .training, shapes: [0, 1], styles: [0, 1], colours: [0])
        XCTAssertEqual(g.ua.map(\.prompt), ["a circle in solid style", "a picture of a striped circle"])
        XCTAssertEqual(g.ira.map(\.prompt), ["a photo of a red square"])
        XCTAssertEqual(g.cra.map(\.prompt), ["a picture of a solid square", "a striped square"])
        let r = readings([
            ("a circle in solid style", [0, 0], [0, 0], [0, 0]),  // still a circle: 0 of 2
            ("a picture of a striped circle", [3, 0], [0, 0], [1, 1]),  // 1 of 2
            ("a photo of a red square", [1, 1], [5, 5], [0, 0]),  // the shape is what IRA reads: 2 of 2
            ("a picture of a solid square", [2, 2], [0, 0], [0, 0]),  // the style is what CRA reads: 2 of 2
            ("a striped square", [1, 1], [0, 0], [0, 0])  // 0 of 2
        ])
        let s = try BenchmarkScores(grid: g, readings: r)
        XCTAssertEqual([s.ua, s.ira, s.cra], [0.25, 1, 0.5])
        XCTAssertEqual(s.uaByConcept, ["solid": 0, "striped": 0.5])
        XCTAssertEqual(s.iraByConcept, ["square": 1])
    }

    func testSpecificity() {
        let black = RGBImage(width: 32, height: 32, fill: 0)
        let white = RGBImage(width: 32, height: 32, fill: 255)
        let same = BenchmarkScores.specificity([(black, black), (white, white)])
        XCTAssertEqual(same.ssim, 1, accuracy: 1e-12)
        XCTAssertEqual(same.pixelDiff, 0)
        let half = BenchmarkScores.specificity([(black, black), (black, white)])
        XCTAssertEqual(half.pixelDiff, 0.5)
        XCTAssertEqual(half.ssim, (1 + ImageMetrics.ssim(black, white)) / 2, accuracy: 1e-12)
    }

    func testSettingsValidation() throws {
        var s = BenchmarkSettings()
        s.styles = ["striped"]
        XCTAssertNoThrow(try s.validate())
        s.styles = ["checkered"]  // a v2 style outside the default (v1) grid
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("styles")) }
        s.gridStyles = ToyConcepts.styles
        XCTAssertNoThrow(try s.validate())
        s.seedsPerPrompt = 1
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("seeds_per_prompt")) }
        let known = BenchmarkSettings.knownConcepts { ["circle", "square", "striped", "solid", "red"].contains($0) }
        XCTAssertEqual(known.shapes, ["circle", "square"])
        XCTAssertEqual(known.styles, ["solid", "striped"])
        XCTAssertEqual(known.colours, ["red"])
    }

    func testProtectionCountsIdenticalImagesIn8Bits() throws {
        let a = RGBImage(width: 4, height: 4, fill: 10)
        var b = a
        b.pixels[5] = 11  // one channel of one pixel one level off
        XCTAssertEqual(BenchmarkProtection.identicalCount([a, a, b], [a, b, b]), 2)
        let p = BenchmarkProtection(prompts: [.init(prompt: "", identical: 4, images: 4), .init(prompt: "zq watermark", identical: 3, images: 4)])
        XCTAssertFalse(p.identical)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(p)) as? [String: Any])
        XCTAssertEqual(json["identical"] as? Bool, false)
        XCTAssertEqual(try JSONDecoder().decode(BenchmarkProtection.self, from: JSONEncoder().encode(p)), p)
    }

    func testRestorationAndCompositionRoundTrip() throws {
        let r = BenchmarkRestoration(
            restored: "solid", kept: ["striped"], conceptImagesIdentical: 16, conceptImages: 16, gridImagesIdentical: 40, gridImages: 96,
            restoredAccuracy: 0.97, originalAccuracy: 1, stillErasedUA: ["striped": 0.99])
        XCTAssertTrue(r.identical)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(r)) as? [String: Any])
        XCTAssertEqual(json["identical"] as? Bool, true)
        XCTAssertEqual(json["still_erased_ua"] as? [String: Double], ["striped": 0.99])
        XCTAssertEqual(try JSONDecoder().decode(BenchmarkRestoration.self, from: JSONEncoder().encode(r)), r)

        // Without composed targets the columns are written as null, not left out.
        var settings = BenchmarkSettings()
        settings.styles = ["striped"]
        let row = BenchmarkResult.Target(
            target: "striped", kind: .style, ua: 1, ira: 0.5, cra: 0.25, uaHeldout: nil, iraHeldout: nil, craHeldout: nil,
            ssimRetained: 0.9, pixelDiffRetained: 0.01, frechetRetained: 2, seconds: 3, iterations: 4)
        let result = BenchmarkResult(settings: settings, targets: [row])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: result.json()) as? [String: Any])
        for key in ["composition", "restoration", "protection"] { XCTAssertTrue(object[key] is NSNull, key) }
        XCTAssertEqual(try XCTUnwrap(object["summary"] as? [String: Any])["harmonic_mean"] as? Double ?? 0, 3 / (1 + 2 + 4), accuracy: 1e-12)
        XCTAssertFalse(result.markdown().contains("## Composition"))
    }

    /// A target's further wordings: its own placeholder filled with it, the others expanded over
    /// the grid, articles agreeing, no repeats; templates must name every target kind.
    func testConceptTemplatesExpandOverTheGrid() throws {
        let striped = BenchmarkPromptGrid.Target(kind: .style, label: ToyConcepts.styles.firstIndex(of: "striped")!)
        let circle = BenchmarkPromptGrid.Target(kind: .object, label: ToyConcepts.shapes.firstIndex(of: "circle")!)
        let shapes = [0, 1]  // circle, square
        let styles = [0, 1]  // solid, striped
        XCTAssertEqual(
            BenchmarkPromptGrid.conceptPrompts(
                target: striped, templates: ["a {style} {shape}", "a {shape} in {style} style", "{style}"], shapes: shapes, styles: styles,
                colours: [0]),
            ["a striped circle", "a striped square", "a circle in striped style", "a square in striped style"])
        XCTAssertEqual(
            BenchmarkPromptGrid.conceptPrompts(
                target: circle, templates: ["a {style} {colour} {shape}"], shapes: shapes, styles: styles, colours: [0, 5]),
            ["a solid red circle", "a solid orange circle", "a striped red circle", "a striped orange circle"])
        XCTAssertEqual(
            BenchmarkPromptGrid.conceptPrompts(target: circle, templates: ["a {colour} {shape}"], shapes: shapes, styles: styles, colours: [5]),
            ["an orange circle"])
        var s = BenchmarkSettings()
        s.styles = ["striped"]
        s.conceptTemplates = ["a {style} {shape}"]
        XCTAssertNoThrow(try s.validate())
        s.conceptTemplates = ["a {colour} {shape}"]
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("concept_templates")) }
        s.conceptTemplates = ["a {style} {thing}"]
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("placeholders")) }
    }

    /// The original images saved for `--resume` come back pixel for pixel, and a file made by
    /// another model, with other sampling settings, without a prompt of the grid, or that is not
    /// such a file at all is not used (nil, with the reason).
    func testOriginalImagesFileRoundTripAndMismatches() throws {
        var settings = BenchmarkSettings()
        settings.seedsPerPrompt = 2
        let key = BenchmarkOriginals.Key(settings)
        let a = RGBImage(width: 2, height: 3, pixels: (0..<18).map { UInt8($0 * 7) })
        let b = RGBImage(width: 2, height: 3, pixels: (0..<18).map { UInt8(255 - $0) })
        let originals = BenchmarkOriginals(
            images: ["a red circle": [a, b], "a striped square": [b, a]], readings: [:],
            accuracy: try BenchmarkOriginalAccuracy(grids: [], readings: [:]), key: key)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-originals-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("original-images.safetensors")
        try BenchmarkOriginalsFile.write(originals, prompts: ["a red circle", "a striped square"], model: "toy", to: url)

        var reasons: [String] = []
        let skip = { (reason: String) in reasons.append(reason) }
        let back = BenchmarkOriginalsFile.read(at: url, model: "toy", key: key, prompts: ["a striped square"], skipped: skip)
        XCTAssertEqual(back?["a red circle"], [a, b])
        XCTAssertEqual(back?["a striped square"], [b, a])
        XCTAssertEqual(reasons, [])

        var other = settings
        other.steps = 10
        XCTAssertNil(BenchmarkOriginalsFile.read(at: url, model: "toy", key: .init(other), prompts: [], skipped: skip))
        XCTAssertNil(BenchmarkOriginalsFile.read(at: url, model: "sd15", key: key, prompts: [], skipped: skip))
        XCTAssertNil(BenchmarkOriginalsFile.read(at: url, model: "toy", key: key, prompts: ["a blue star"], skipped: skip))
        XCTAssertEqual(reasons.count, 3)
        XCTAssertTrue(reasons[2].contains("lacks"), reasons[2])

        try Data("not a safetensors file".utf8).write(to: url)
        XCTAssertNil(BenchmarkOriginalsFile.read(at: url, model: "toy", key: key, prompts: [], skipped: skip))
        XCTAssertEqual(reasons.count, 4)
        XCTAssertTrue(reasons[3].contains("could not be read"), reasons[3])
        XCTAssertNil(BenchmarkOriginalsFile.read(at: folder.appendingPathComponent("absent"), model: "toy", key: key, prompts: [], skipped: skip))
        XCTAssertEqual(reasons.count, 4, "a missing file is not a reason to report")
    }
}

/// The comparison of methods: one row per method from its result, null for the columns a result
/// lacks, the table and the figure.
final class BenchmarkComparisonTests: XCTestCase {
    func testRowsReadEachMethodsResult() throws {
        var settings = BenchmarkSettings()
        settings.styles = ["solid", "striped"]
        func row(_ name: String, ua: Double, heldout: Double?, bytes: Int?, seconds: Double = 4) -> BenchmarkResult.Target {
            BenchmarkResult.Target(
                target: name, kind: .style, ua: ua, ira: 0.5, cra: 1, uaHeldout: heldout, iraHeldout: nil, craHeldout: nil,
                ssimRetained: 0.9, pixelDiffRetained: 0.01, frechetRetained: 2, seconds: seconds, iterations: 10, shiftBytes: bytes)
        }
        let composition = BenchmarkComposition(
            kind: .style, targets: ["solid", "striped"], ua: ["solid": 1, "striped": 0.5], uaMean: 0.75, ira: 0.8, cra: 0.9,
            ssimRetained: 0.7, pixelDiffRetained: 0.02, seconds: 9, iterations: 20)
        let restoration = BenchmarkRestoration(
            restored: "solid", kept: ["striped"], conceptImagesIdentical: 3, conceptImages: 4, gridImagesIdentical: 0, gridImages: 8,
            restoredAccuracy: 0.9, originalAccuracy: 1, stillErasedUA: ["striped": 0.25])
        let protection = BenchmarkProtection(prompts: [.init(prompt: "", identical: 2, images: 2)])
        let columns = ErasureBenchmark.CompositionColumns(composition: composition, restoration: restoration, protection: protection)
        var uceSettings = settings
        uceSettings.method = .uce
        let sepme = BenchmarkResult(
            settings: settings, targets: [row("solid", ua: 1, heldout: 0.5, bytes: 2048), row("striped", ua: 0.5, heldout: nil, bytes: nil)],
            columns: columns)
        let uce = BenchmarkResult(settings: uceSettings, targets: [row("solid", ua: 0.25, heldout: nil, bytes: 1024, seconds: 0.0123)])
        let comparison = try BenchmarkComparison(results: [sepme, uce])
        XCTAssertEqual(comparison.methods.map(\.method), ["sepme", "uce"])
        let a = comparison.methods[0]
        XCTAssertEqual(a.summary.ua, 0.75, accuracy: 1e-12)
        // Held-out and size means over the rows that have them.
        XCTAssertEqual(try XCTUnwrap(a.summary.uaHeldout), 0.5, accuracy: 1e-12)
        XCTAssertNil(a.summary.iraHeldout)
        XCTAssertEqual(try XCTUnwrap(a.summary.shiftBytes), 2048, accuracy: 1e-12)
        XCTAssertEqual(a.composedUA, 0.75)
        XCTAssertEqual(a.restoredIdentical, false)
        XCTAssertEqual(a.restoredImagesIdentical, 3)
        XCTAssertEqual(a.stillErasedUA, 0.25)
        XCTAssertEqual(a.protectedIdentical, true)
        let b = comparison.methods[1]
        XCTAssertNil(b.composedUA)
        XCTAssertNil(b.restoredIdentical)

        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(comparison)) as? [String: Any])
        let rows = try XCTUnwrap(json["methods"] as? [[String: Any]])
        for key in ["composed_ua", "composed_ira", "composed_cra", "restored_identical", "still_erased_ua", "protected_identical"] {
            XCTAssertTrue(rows[1][key] is NSNull, key)
        }
        let summary = try XCTUnwrap(rows[1]["summary"] as? [String: Any])
        XCTAssertTrue(summary["ira_heldout"] is NSNull)
        XCTAssertEqual(summary["shift_bytes"] as? Double, 1024)
        XCTAssertEqual(try JSONDecoder().decode(BenchmarkComparison.self, from: JSONEncoder().encode(comparison)), comparison)

        let table = comparison.markdown()
        XCTAssertTrue(table.contains("| sepme | the name, \"a {style} {shape}\" | 75.0 | 50.0 | 100.0 |"), table)
        XCTAssertTrue(table.contains("no (3/4) | 25.0 | yes |"), table)
        XCTAssertTrue(table.contains("| uce | the name, \"a {style} {shape}\" | 25.0 |"), table)
        // Seconds per target, then shift KiB: a closed form's hundredths of a second stay visible.
        XCTAssertTrue(table.contains("| 4.0 | 2 |"), table)
        XCTAssertTrue(table.contains("| 0.012 | 1 |"), table)
        let figure = try comparison.figure()
        XCTAssertGreaterThan(figure.width, 200)
        XCTAssertThrowsError(try BenchmarkComparison(results: []))
    }

    /// Optional fields are written as null and read back from null or from a missing key (a
    /// target saved before `shift_bytes` existed).
    /// Each method's rows record its own options only: SepME's none (so rows made before the
    /// baselines existed still resume), a fine-tuned baseline's filled in with the benchmark's
    /// learning rates unless given; UCE's as given, and its wording the name alone by default.
    func testEachMethodRecordsItsOwnOptions() throws {
        var s = BenchmarkSettings()
        s.uce = UCEOptions(guide: "art")
        s.ca = CAOptions(anchor: "", learningRate: 5e-4)
        s.decoupling = .names
        let sepme = s.forMethod(.sepme)
        XCTAssertEqual(sepme.method, .sepme)
        XCTAssertEqual(sepme.decoupling, .names)
        XCTAssertNil(s.forMethod(.uce).decoupling)
        XCTAssertNil(sepme.uce)
        XCTAssertNil(sepme.esd)
        XCTAssertNil(sepme.ca)
        let esd = try XCTUnwrap(s.forMethod(.esdX).esd)
        XCTAssertEqual(esd.learningRate, 1e-4)
        XCTAssertEqual(esd.iterations, ESDOptions().iterations)
        XCTAssertNil(s.forMethod(.esdX).ca)
        XCTAssertEqual(s.forMethod(.ca).ca?.learningRate, 5e-4)
        XCTAssertEqual(BenchmarkSettings().forMethod(.ca).ca?.learningRate, 2e-3)
        XCTAssertEqual(s.forMethod(.uce).uce?.guide, "art")
        XCTAssertNil(BenchmarkSettings().forMethod(.uce).uce)
        XCTAssertEqual(BenchmarkSettings.defaultConceptTemplates(for: .uce), [])
        for m in [ErasureMethodKind.sepme, .esdX, .ca] {
            XCTAssertEqual(BenchmarkSettings.defaultConceptTemplates(for: m), ["a {style} {shape}"])
        }
        // What a row records decodes to the same settings (the check a resumed run makes).
        let row = s.forMethod(.esdX)
        XCTAssertEqual(try JSONDecoder().decode(BenchmarkSettings.self, from: JSONEncoder().encode(row)), row)
    }

    func testOptionalFieldsAreNullNeverMissing() throws {
        let row = BenchmarkResult.Target(
            target: "solid", kind: .style, ua: 1, ira: 1, cra: 1, uaHeldout: nil, iraHeldout: 0.5, craHeldout: nil,
            ssimRetained: 1, pixelDiffRetained: 0, frechetRetained: 0, seconds: 1, iterations: 1)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(row)) as? [String: Any])
        XCTAssertTrue(object["ua_heldout"] is NSNull)
        XCTAssertTrue(object["shift_bytes"] is NSNull)
        XCTAssertEqual(object["ira_heldout"] as? Double, 0.5)
        var old = object
        old["shift_bytes"] = nil
        old["ua_heldout"] = nil
        let decoded = try JSONDecoder().decode(BenchmarkResult.Target.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertEqual(decoded, row)
        old["ira"] = nil
        XCTAssertThrowsError(try JSONDecoder().decode(BenchmarkResult.Target.self, from: JSONSerialization.data(withJSONObject: old)))
    }

    /// benchmark.md names the concepts each target's UA and IRA are lowest on, lowest first.
    func testWhereTableListsTheLowestConcepts() {
        var row = BenchmarkResult.Target(
            target: "striped", kind: .style, ua: 0.5, ira: 0.8, cra: 1, ssimRetained: 1, pixelDiffRetained: 0, frechetRetained: 0, seconds: 1,
            iterations: 1)
        row.uaByConcept = ["circle": 1, "square": 0.25, "star": 0.5, "heart": 0.25]
        row.iraByConcept = ["solid": 1, "dotted": 0.6]
        var settings = BenchmarkSettings()
        settings.styles = ["striped"]
        let table = BenchmarkResult(settings: settings, targets: [row]).markdown()
        XCTAssertTrue(table.contains("| striped | heart 25.0, square 25.0, star 50.0 | dotted 60.0 (–), solid 100.0 (–) |"), table)
        XCTAssertFalse(BenchmarkResult(settings: settings, targets: []).markdown().contains("## Where"))
    }

    /// A row's seconds: this process's wall time, unless a shift records more training and image time (an
    /// erasure resumed from its checkpoint, or on training images an earlier process made); shifts trained
    /// together each carry the group's time, so the largest counts, not their sum.
    func testErasureSecondsCountATrainingResumedFromItsCheckpoint() {
        func shift(_ seconds: Double, images: Double = 0) -> ConceptShift {
            var training = TrainingRecord(iterations: 1000, stopReason: .maxIterations)
            training.seconds = seconds
            training.imageSeconds = images
            let metadata = ShiftMetadata(
                variant: .full, concepts: ["striped"], protectedPrompts: [], decoupledFrom: [], baseFingerprint: "0123456789abcdef",
                hyperparameters: ErasureHyperparameters(), training: training, nullSpace: nil, restorable: false, toolVersion: "test")
            return ConceptShift(metadata: metadata, weights: .dense(deltas: [:], biases: [:]))
        }
        XCTAssertEqual(ErasureBenchmark.erasureSeconds(wall: 62, shifts: [shift(337)]), 337)
        XCTAssertEqual(ErasureBenchmark.erasureSeconds(wall: 270, shifts: [shift(265)]), 270)
        XCTAssertEqual(ErasureBenchmark.erasureSeconds(wall: 40, shifts: [shift(90), shift(90)]), 90)
        XCTAssertEqual(ErasureBenchmark.erasureSeconds(wall: 0.5, shifts: []), 0.5)
        XCTAssertEqual(ErasureBenchmark.erasureSeconds(wall: 33, shifts: [shift(30, images: 75)]), 105)
    }
}
