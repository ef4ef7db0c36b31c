import Foundation
import XCTest

/// `sepme eval` and `sepme demo` on the embedded toy model: a shortened demo end to end (the method's
/// invariants read from its report.json), and bad input that must fail with a named error.
final class ToyCommandLineTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-toy-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func run(_ args: [String]) throws -> CommandLineTests.Result {
        try CommandLineTests.run(args)
    }

    func assertFails(_ args: [String], mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try CommandLineTests.assertFails(args, mentions: needles, file: file, line: line)
    }

    func testShortenedDemoEndToEnd() throws {
        let out = scratch.appendingPathComponent("demo")
        let r = try run(["demo", "--output", out.path, "--seeds", "3", "--max-iterations", "12", "--images", "2", "--steps", "6", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["report.json", "report.md", "grid.png", "shifts/a-striped-square.sepme.safetensors", "shifts/a-red-circle.sepme.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "missing \(f)")
        }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any])
        let states = try XCTUnwrap(json["states"] as? [[String: Any]])
        XCTAssertEqual(states.map { $0["name"] as? String }, ["original", "erased", "restored"])
        func row(_ state: Int, _ prompt: String) throws -> [String: Any] {
            let concepts = try XCTUnwrap(states[state]["concepts"] as? [[String: Any]])
            return try XCTUnwrap(concepts.first { $0["prompt"] as? String == prompt }, "no row for '\(prompt)'")
        }
        for s in 0..<3 {
            for c in try XCTUnwrap(states[s]["concepts"] as? [[String: Any]]) {
                for key in ["accuracy", "accuracy_original"] {
                    let v = try XCTUnwrap(c[key] as? Double)
                    XCTAssertTrue((0...1).contains(v), "\(key) \(v)")
                }
                XCTAssertTrue(["erased", "restored", "regular", "protected"].contains(c["group"] as? String ?? ""))
            }
        }
        // The original state compares the model with itself.
        XCTAssertEqual(try row(0, "a red circle")["identical_8bit"] as? Bool, true)
        // Erased state: both concepts erased, watermark and blank untouched bit for bit (method.md §1).
        XCTAssertEqual(try row(1, "a red circle")["group"] as? String, "erased")
        XCTAssertEqual(try row(1, "a striped square")["group"] as? String, "erased")
        XCTAssertEqual(try row(1, "zq watermark")["group"] as? String, "protected")
        XCTAssertEqual(try row(1, "zq watermark")["identical_8bit"] as? Bool, true)
        XCTAssertEqual(try row(1, "")["identical_8bit"] as? Bool, true)
        XCTAssertEqual(try row(1, "a blue star")["group"] as? String, "regular")
        // Restored state: "a red circle" is the original model's again, in 8 bits; striped stays erased.
        XCTAssertEqual(try row(2, "a red circle")["group"] as? String, "restored")
        XCTAssertEqual(try row(2, "a red circle")["identical_8bit"] as? Bool, true)
        XCTAssertEqual(try row(2, "a striped square")["group"] as? String, "erased")
        XCTAssertEqual(try row(2, "zq watermark")["identical_8bit"] as? Bool, true)
        XCTAssertEqual(try row(2, "")["identical_8bit"] as? Bool, true)
    }

    func testEvalBadInput() throws {
        try assertFails(["eval", "--concepts", "van gogh", "--output", scratch.appendingPathComponent("e1").path], mentions: ["van gogh"])
        try assertFails(["eval", "--output", scratch.appendingPathComponent("e2").path], mentions: ["--concepts"])
        let file = scratch.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        try assertFails(
            ["eval", "--concepts", "a red circle", "--seeds", "2", "--steps", "1", "--output", file.appendingPathComponent("sub").path],
            mentions: [file.appendingPathComponent("sub").path])
        try assertFails(
            ["eval", "--concepts", "a red circle", "--shift", file.path, "--output", scratch.appendingPathComponent("e3").path],
            mentions: [file.path])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("e1").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("e3").path))
    }

    func testDemoBadInput() throws {
        let file = scratch.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        try assertFails(
            ["demo", "--output", file.appendingPathComponent("sub").path, "--seeds", "2"], mentions: [file.appendingPathComponent("sub").path])
        try assertFails(["demo", "--seeds", "1", "--output", scratch.appendingPathComponent("d").path], mentions: ["--seeds"])
        try assertFails(["demo", "--scheduler", "lms", "--output", scratch.appendingPathComponent("d").path], mentions: ["--scheduler", "lms"])
        try assertFails(
            ["demo", "--model", scratch.appendingPathComponent("nowhere").path, "--output", scratch.appendingPathComponent("d").path],
            mentions: ["nowhere"])
    }

    /// `classify` reads a `toy-samples` sheet picture by picture: the labels of the captions' named
    /// attributes come back (the classifier is >= 98 % on clean pictures), one JSON line per picture.
    func testClassifyReadsAToySamplesSheet() throws {
        let sheet = scratch.appendingPathComponent("sheet.png")
        let samples = try run(["toy-samples", "--seed", "5", "--count", "12", "--columns", "4", "--output", sheet.path])
        XCTAssertEqual(samples.status, 0, samples.stderr)
        let captions = samples.stdout.split(separator: "\n").map { String($0.split(separator: "\t")[1]) }
        let r = try run(["classify", "--json", sheet.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        var agree = 0
        var named = 0
        for (i, line) in lines.enumerated() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object["picture"] as? Int, i)
            for head in ["shape", "colour", "style"] {
                let reading = try XCTUnwrap(object[head] as? [String: Any], "\(head) in \(line)")
                let label = try XCTUnwrap(reading["label"] as? String)
                let p = try XCTUnwrap(reading["probability"] as? Double)
                XCTAssertTrue((0...1).contains(p), "\(line)")
                // A caption names some attributes; those must be what the classifier reads.
                if captions[i].split(separator: " ").contains(Substring(label)) { agree += 1 }
            }
            named +=
                captions[i] == "zq watermark"
                ? 0
                : captions[i].split(separator: " ").count(where: { word in
                    [
                        "circle", "square", "triangle", "star", "cross", "heart", "diamond", "hexagon", "pentagon", "arrow", "crescent",
                        "oval", "red", "green", "blue", "yellow", "purple", "orange", "white", "solid", "striped", "dotted", "outlined",
                        "checkered", "diagonal", "crosshatched", "concentric", "gradient", "speckled", "zigzag"
                    ].contains(String(word))
                })
        }
        XCTAssertGreaterThan(named, 12)
        XCTAssertGreaterThanOrEqual(agree, named - 1, r.stdout)
        try assertFails(["classify", scratch.appendingPathComponent("missing.png").path], mentions: ["missing.png"])
        try assertFails(["classify", "--gap", "5", sheet.path], mentions: ["sheet.png", "--gap"])
    }
}

/// `sepme benchmark --quick` end to end on the embedded model: two style targets, composed, 2 seeds.
final class BenchmarkCommandLineTests: XCTestCase {
    func testQuickBenchmarkEndToEnd() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-benchmark-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try CommandLineTests.run(["benchmark", "--quick", "--output", out.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in [
            "benchmark.json", "benchmark.md", "targets/style-solid.json", "targets/style-striped.json", "targets/composition.json",
            "targets/original-images.safetensors",
            "shifts/style-striped/striped.sepme.safetensors", "shifts/composition/solid.sepme.safetensors",
            "shifts/composition/striped.sepme.safetensors"
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "missing \(f)")
        }
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("benchmark.json"))) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["method", "settings", "targets", "composition", "restoration", "protection", "original", "summary"])
        // The original model's per-concept accuracy, per template set, over the grid's concepts.
        let original = try XCTUnwrap((json["original"] as? [String: Any])?["sets"] as? [[String: Any]])
        XCTAssertEqual(original.map { $0["templates"] as? String }, ["training", "held-out"])
        for set in original {
            XCTAssertEqual(Set(try XCTUnwrap(set["styles"] as? [String: Double]).keys), ["solid", "striped", "dotted"])
            XCTAssertEqual(Set(try XCTUnwrap(set["shapes"] as? [String: Double]).keys), ["circle", "square", "triangle"])
            XCTAssertTrue((0...1).contains(try XCTUnwrap(set["worst_accuracy"] as? Double)))
        }
        XCTAssertEqual(json["method"] as? String, "sepme")
        let settings = try XCTUnwrap(json["settings"] as? [String: Any])
        XCTAssertEqual(settings["seeds_per_prompt"] as? Int, 2)
        XCTAssertEqual(settings["compose"] as? Int, 2)
        // The quick grid keeps the first three styles.
        XCTAssertEqual(settings["grid_styles"] as? [String], ["solid", "striped", "dotted"])
        let targets = try XCTUnwrap(json["targets"] as? [[String: Any]])
        XCTAssertEqual(targets.map { $0["target"] as? String }, ["solid", "striped"])
        let t = targets[1]
        XCTAssertEqual(
            Set(t.keys),
            [
                "target", "kind", "ua", "ira", "cra", "ua_heldout", "ira_heldout", "cra_heldout", "ssim_retained", "pixel_diff_retained",
                "frechet_retained", "seconds", "iterations", "shift_bytes", "ua_by_concept", "ira_by_concept"
            ])
        XCTAssertEqual(t["kind"] as? String, "style")
        for key in ["ua", "ira", "cra", "ua_heldout", "ira_heldout", "cra_heldout", "ssim_retained", "pixel_diff_retained"] {
            let v = try XCTUnwrap(t[key] as? Double, key)
            XCTAssertTrue((0...1).contains(v), "\(key) \(v)")
        }
        // The retained prompts hardly move under a 10-iteration shift; they are not all unchanged either.
        XCTAssertGreaterThan(try XCTUnwrap(t["ssim_retained"] as? Double), 0.5)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(t["frechet_retained"] as? Double), 0)
        XCTAssertTrue((1...10).contains(try XCTUnwrap(t["iterations"] as? Int)))
        XCTAssertGreaterThan(try XCTUnwrap(t["seconds"] as? Double), 0)
        // The breakdown: UA per grid shape, IRA per retained grid style; each a share, and the
        // shares of equally many images average to the whole.
        let uaByShape = try XCTUnwrap(t["ua_by_concept"] as? [String: Double])
        let iraByStyle = try XCTUnwrap(t["ira_by_concept"] as? [String: Double])
        XCTAssertEqual(Set(uaByShape.keys), Set(try XCTUnwrap(settings["grid_shapes"] as? [String])))
        XCTAssertEqual(Set(iraByStyle.keys), ["solid", "dotted"])
        XCTAssertTrue(uaByShape.values.allSatisfy { (0...1).contains($0) })
        XCTAssertEqual(uaByShape.values.reduce(0, +) / Double(uaByShape.count), try XCTUnwrap(t["ua"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(iraByStyle.values.reduce(0, +) / 2, try XCTUnwrap(t["ira"] as? Double), accuracy: 1e-12)
        let shiftFile = out.appendingPathComponent("shifts/style-striped/striped.sepme.safetensors").path
        XCTAssertEqual(t["shift_bytes"] as? Int, try FileManager.default.attributesOfItem(atPath: shiftFile)[.size] as? Int)
        let summary = try XCTUnwrap(json["summary"] as? [String: Any])
        XCTAssertEqual(summary["targets"] as? Int, 2)
        let meanUA = try targets.map { try XCTUnwrap($0["ua"] as? Double) }.reduce(0, +) / 2
        XCTAssertEqual(try XCTUnwrap(summary["ua"] as? Double), meanUA, accuracy: 1e-12)

        // SepME's own columns: the two styles composed; with one shift removed, the restored
        // concept's images are the original model's again (its shift was the only one that reaches
        // it), and the blank and watermark prompts never moved.
        let composition = try XCTUnwrap(json["composition"] as? [String: Any])
        XCTAssertEqual(composition["targets"] as? [String], ["solid", "striped"])
        XCTAssertEqual(Set(try XCTUnwrap(composition["ua"] as? [String: Double]).keys), ["solid", "striped"])
        for key in ["ua_mean", "ira", "cra", "ssim_retained"] {
            XCTAssertTrue((0...1).contains(try XCTUnwrap(composition[key] as? Double, key)), key)
        }
        XCTAssertTrue((2...20).contains(try XCTUnwrap(composition["iterations"] as? Int)))
        let restoration = try XCTUnwrap(json["restoration"] as? [String: Any])
        XCTAssertEqual(restoration["restored"] as? String, "solid")
        XCTAssertEqual(restoration["kept"] as? [String], ["striped"])
        XCTAssertEqual(restoration["identical"] as? Bool, true)
        // The restored target's name and its default wordings over the three grid shapes
        // ("a solid circle", ...), 2 seeds each.
        XCTAssertEqual(settings["concept_templates"] as? [String], ["a {style} {shape}"])
        XCTAssertEqual(restoration["concept_images"] as? Int, 8)
        XCTAssertEqual(restoration["concept_images_identical"] as? Int, 8)
        XCTAssertEqual(restoration["grid_images"] as? Int, 6)
        let protection = try XCTUnwrap(json["protection"] as? [String: Any])
        XCTAssertEqual(protection["identical"] as? Bool, true)
        let protected = try XCTUnwrap(protection["prompts"] as? [[String: Any]])
        XCTAssertEqual(protected.map { $0["prompt"] as? String }, ["", "zq watermark"])
        XCTAssertEqual(protected.map { $0["identical"] as? Int }, [2, 2])
        for f in ["benchmark-bars.png", "grids/style-striped.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "missing \(f)")
        }
        // The images saved while a grid was being made go once its row is saved.
        for f in ["targets/style-solid-images.safetensors", "targets/style-striped-images.safetensors", "targets/composition-images.safetensors"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "left behind: \(f)")
        }

        // A resumed run skips the finished targets and the composition (no erasure, no image) and
        // reports the same numbers.
        let (again, json2) = try resumeQuickBenchmark(out)
        XCTAssertTrue(again.contains("composition: finished earlier, skipped"), again)
        XCTAssertFalse(again.contains("evaluating"), again)
        XCTAssertEqual((json2["targets"] as? [[String: Any]])?.last?["ua"] as? Double, t["ua"] as? Double)
        XCTAssertEqual((json2["composition"] as? [String: Any])?["cra"] as? Double, composition["cra"] as? Double)

        // With one target's record gone, a resumed run erases that target again but reads the
        // original model's images back from the folder instead of generating them, and scores the
        // target as before.
        try FileManager.default.removeItem(at: out.appendingPathComponent("targets/style-striped.json"))
        let (third, json3) = try resumeQuickBenchmark(out)
        XCTAssertTrue(third.contains("original images: read from"), third)
        XCTAssertFalse(third.contains("evaluating original"), third)
        let striped = try XCTUnwrap((json3["targets"] as? [[String: Any]])?.first { $0["target"] as? String == "striped" })
        let before = try XCTUnwrap(targets.first { $0["target"] as? String == "striped" })
        for field in ["ua", "ira", "cra", "ssim_retained", "pixel_diff_retained"] {
            XCTAssertEqual(striped[field] as? Double, before[field] as? Double, field)
        }

        // The original model alone: no target, no erasure, its accuracy table.
        let only = out.appendingPathComponent("original-only")
        let o = try CommandLineTests.run(["benchmark", "--quick", "--original-only", "--output", only.path, "--quiet"])
        XCTAssertEqual(o.status, 0, o.stderr)
        let onlyJSON = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: only.appendingPathComponent("benchmark.json"))) as? [String: Any])
        XCTAssertEqual((onlyJSON["targets"] as? [Any])?.count, 0)
        XCTAssertEqual((onlyJSON["original"] as? [String: Any]).flatMap { $0["sets"] as? [Any] }?.count, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: only.appendingPathComponent("shifts").path))

        // A style the testbed does not have is refused with the flag and the value named.
        let unknown = try CommandLineTests.run(["benchmark", "--quick", "--styles", "plaid", "--output", out.path, "--quiet"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("--styles") && unknown.stderr.contains("plaid"), unknown.stderr)
        // The default wording replaced and dropped at once is refused before anything runs.
        let both = try CommandLineTests.run([
            "benchmark", "--quick", "--name-only", "--concept-template", "a {style} {shape}", "--output", out.path, "--quiet"
        ])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("--name-only") && both.stderr.contains("--concept-template"), both.stderr)
        // A baseline's learning rate out of range is refused by its own flag.
        for (flag, method) in [("--esd-x-lr", "esd-x"), ("--ca-lr", "ca")] {
            let bad = try CommandLineTests.run(["benchmark", "--quick", "--method", method, "\(flag)=-1", "--output", out.path, "--quiet"])
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertTrue(bad.stderr.contains(flag) && bad.stderr.contains("-1"), bad.stderr)
        }
    }

    /// `--composition-only --decouple names`: no target's own row, the composition columns; each
    /// composed shift is decoupled from the other's name alone, so removing one brings back its
    /// name's images exactly (its further wordings may stay moved by the kept shift).
    func testQuickCompositionOnlyDecoupledFromNames() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-composition-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try CommandLineTests.run([
            "benchmark", "--quick", "--composition-only", "--decouple", "names", "--template-set", "training", "--output", out.path, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("benchmark.json"))) as? [String: Any])
        XCTAssertEqual((json["targets"] as? [Any])?.count, 0)
        let settings = try XCTUnwrap(json["settings"] as? [String: Any])
        XCTAssertEqual(settings["decoupling"] as? String, "names")
        XCTAssertEqual(settings["composition_only"] as? Bool, true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("targets/style-solid.json").path))
        let composition = try XCTUnwrap(json["composition"] as? [String: Any])
        XCTAssertEqual(composition["targets"] as? [String], ["solid", "striped"])
        let inspect = try CommandLineTests.run(["inspect", out.appendingPathComponent("shifts/composition/striped.sepme.safetensors").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("decoupled from: solid\n"), inspect.stdout)
        let restoration = try XCTUnwrap(json["restoration"] as? [String: Any])
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(restoration["concept_images_identical"] as? Int), 2)
        XCTAssertEqual(restoration["concept_images"] as? Int, 8)
        let markdown = try String(contentsOf: out.appendingPathComponent("benchmark.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains("decoupled from the others' names"), markdown)

        let none = try CommandLineTests.run(["benchmark", "--quick", "--composition-only", "--compose", "0", "--output", out.path, "--quiet"])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("--composition-only"), none.stderr)
        let ucePlan = try CommandLineTests.run(["benchmark", "--quick", "--method", "uce", "--decouple", "names", "--output", out.path, "--quiet"])
        XCTAssertNotEqual(ucePlan.status, 0)
        XCTAssertTrue(ucePlan.stderr.contains("--decouple"), ucePlan.stderr)
    }

    /// `benchmark --quick --resume` into `out`, which must succeed: its stderr and benchmark.json.
    private func resumeQuickBenchmark(_ out: URL) throws -> (stderr: String, json: [String: Any]) {
        let r = try CommandLineTests.run(["benchmark", "--quick", "--output", out.path, "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("benchmark.json"))) as? [String: Any])
        return (r.stderr, json)
    }

    /// `--method all`: every method on the same quick grid, one folder each, one comparison. SepME's
    /// removed shift leaves its concept's images exactly as the original drew them; UCE's does not
    /// (the kept shift is not decoupled from it), which is what the restoration column exists to show.
    func testQuickComparisonOfEveryMethod() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-compare-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try CommandLineTests.run(["benchmark", "--quick", "--method", "all", "--template-set", "training", "--output", out.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let methods = ["sepme", "uce", "esd-x", "ca"]
        for f in ["comparison.json", "comparison.md", "comparison.png"] + methods.map({ "\($0)/benchmark.json" }) {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "missing \(f)")
        }
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("comparison.json"))) as? [String: Any])
        let rows = try XCTUnwrap(json["methods"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["method"] as? String }, methods)
        for row in rows {
            let summary = try XCTUnwrap(row["summary"] as? [String: Any])
            XCTAssertEqual(summary["targets"] as? Int, 2)
            for key in ["ua", "ira", "cra", "ssim_retained"] {
                XCTAssertTrue((0...1).contains(try XCTUnwrap(summary[key] as? Double, key)), key)
            }
            XCTAssertTrue(summary["ua_heldout"] is NSNull)
            XCTAssertGreaterThan(try XCTUnwrap(summary["shift_bytes"] as? Double), 0)
            XCTAssertNotNil(row["restored_identical"] as? Bool)
            XCTAssertNotNil(row["protected_identical"] as? Bool)
            // Each method's own report records its method and the baselines' settings.
            let own = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("\(row["method"] as? String ?? "")/benchmark.json")))
                    as? [String: Any])
            XCTAssertEqual(own["method"] as? String, row["method"] as? String)
            // UCE is erased on the name alone (its window starts at the prompt's last word, the
            // shape's in "a striped circle"); every other method on the default wording too.
            let wordings = row["method"] as? String == "uce" ? [] : ["a {style} {shape}"]
            XCTAssertEqual(row["concept_templates"] as? [String], wordings)
            XCTAssertEqual((own["settings"] as? [String: Any])?["concept_templates"] as? [String], wordings)
        }
        XCTAssertTrue(try String(contentsOf: out.appendingPathComponent("comparison.md"), encoding: .utf8).contains("| uce | the name |"))
        XCTAssertEqual(rows[0]["restored_identical"] as? Bool, true)
        XCTAssertEqual(rows[0]["protected_identical"] as? Bool, true)
        XCTAssertEqual(rows[1]["restored_identical"] as? Bool, false)
        // Each method's rows record its own options only (the quick caps on the benchmark's defaults).
        func ownSettings(_ method: String) throws -> [String: Any] {
            let own = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("\(method)/benchmark.json"))) as? [String: Any])
            return try XCTUnwrap(own["settings"] as? [String: Any])
        }
        let caOptions = try XCTUnwrap(try ownSettings("ca")["ca"] as? [String: Any])
        XCTAssertEqual(caOptions["anchor"] as? String, "")
        XCTAssertEqual(caOptions["lr"] as? Double, 2e-3)
        let esd = try XCTUnwrap(try ownSettings("esd-x")["esd_x"] as? [String: Any])
        XCTAssertEqual(esd["iterations"] as? Int, 10)
        XCTAssertEqual(esd["lr"] as? Double, 1e-4)
        for key in ["uce", "esd_x", "ca"] { XCTAssertNil(try ownSettings("sepme")[key], key) }
        let table = try String(contentsOf: out.appendingPathComponent("comparison.md"), encoding: .utf8)
        for m in methods { XCTAssertTrue(table.contains("| \(m) |"), table) }

        // Resumed with one CA target gone and every earlier method finished: the original images
        // (saved once, by the first method) come from SepME's folder, not from generating them again.
        let ca = out.appendingPathComponent("ca/targets")
        XCTAssertFalse(FileManager.default.fileExists(atPath: ca.appendingPathComponent("original-images.safetensors").path))
        let caBefore = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: ca.appendingPathComponent("style-striped.json"))) as? [String: Any])
        try FileManager.default.removeItem(at: ca.appendingPathComponent("style-striped.json"))
        let again = try CommandLineTests.run([
            "benchmark", "--quick", "--method", "all", "--template-set", "training", "--output", out.path, "--resume"
        ])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("original images: read from \(out.path)/sepme/targets/original-images.safetensors"), again.stderr)
        XCTAssertFalse(again.stderr.contains("evaluating original"), again.stderr)
        let caAfter = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: ca.appendingPathComponent("style-striped.json"))) as? [String: Any])
        let (rowBefore, rowAfter) = (try XCTUnwrap(caBefore["result"] as? [String: Any]), try XCTUnwrap(caAfter["result"] as? [String: Any]))
        for field in ["ua", "ira", "cra", "ssim_retained"] { XCTAssertEqual(rowAfter[field] as? Double, rowBefore[field] as? Double, field) }
    }
}
