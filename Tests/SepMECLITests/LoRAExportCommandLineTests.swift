import Foundation
import XCTest

/// `export-lora --rank/--energy` and the rank lines of `inspect`, on a UCE shift (dense, closed form,
/// quick) and a SepME shift (factorised) of the tiny model: bad values are refused naming the flag and
/// the value; the summary and `inspect` report the rank and the energy kept.
final class LoRAExportCommandLineTests: XCTestCase {
    var scratch: URL!
    static let model = CommandLineTests.tinySepME.path

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-lora-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func assertFails(_ args: [String], mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try CommandLineTests.assertFails(args, mentions: needles, file: file, line: line)
    }

    private func succeeds(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try CommandLineTests.run(args)
        XCTAssertEqual(r.status, 0, "\(args)\n\(r.stderr)", file: file, line: line)
        return r.stdout
    }

    /// The first integer after `label` in `text` ("rank up to 3" -> 3).
    private func number(after label: String, in text: String) -> Int? {
        guard let range = text.range(of: label) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    func testRankAndEnergyFlagsOfADenseShift() throws {
        let out = scratch.appendingPathComponent("uce")
        _ = try succeeds([
            "erase", "--model", Self.model, "--method", "uce", "--concept", "a red circle", "--preserve", "zq watermark",
            "--output", out.path, "--quiet"
        ])
        let shift = out.appendingPathComponent("a-red-circle.sepme.safetensors").path
        let lora = scratch.appendingPathComponent("l.safetensors").path
        func export(_ extra: [String]) -> [String] { ["export-lora", "--shift", shift, "--format", "kohya", "--output", lora] + extra }

        try assertFails(export(["--rank", "0"]), mentions: ["--rank", "0", "at least 1"])
        try assertFails(export(["--rank=-2"]), mentions: ["--rank", "-2"])
        try assertFails(export(["--rank", "many"]), mentions: ["--rank", "many"])
        try assertFails(export(["--energy", "0"]), mentions: ["--energy", "0.0", "(0, 1]"])
        try assertFails(export(["--energy", "1.5"]), mentions: ["--energy", "1.5"])
        try assertFails(export(["--energy", "nan"]), mentions: ["--energy", "nan"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: lora), "nothing written")

        let byDefault = try succeeds(export([]))
        XCTAssertTrue(byDefault.contains("99.9 % of each projection's Frobenius energy"), byDefault)
        XCTAssertTrue(byDefault.contains("energy kept per projection: min "), byDefault)
        let numerical = try XCTUnwrap(number(after: "numerical rank up to ", in: byDefault), byDefault)
        XCTAssertGreaterThan(numerical, 1, "the check below needs a shift of rank above 1")
        let exact = try succeeds(export(["--rank", "full"]))
        XCTAssertTrue(exact.contains("rank up to \(numerical) "), exact)
        XCTAssertTrue(exact.contains("min 1.000000, mean 1.000000 (exact"), exact)
        XCTAssertEqual(try succeeds(export(["--energy", "1"])), exact)
        // A cap below the numerical rank: that rank, energy below 1; the file's alpha is the cap.
        let capped = try succeeds(export(["--rank", "1"]))
        XCTAssertTrue(capped.contains("rank up to 1 "), capped)
        XCTAssertTrue(capped.contains(", at most 1)"), capped)
        XCTAssertFalse(capped.contains("min 1.000000"), capped)
        let header = try XCTUnwrap(String(data: try Data(contentsOf: URL(fileURLWithPath: lora)), encoding: .isoLatin1))
        XCTAssertTrue(header.contains("\"ss_network_alpha\":\"1\""), "kohya alpha = the largest rank kept")

        let inspected = try succeeds(["inspect", shift])
        XCTAssertTrue(inspected.contains("rank:           numerical up to \(numerical) "), inspected)
        XCTAssertTrue(inspected.contains("lora export:    by default rank up to "), inspected)
        let verbose = try succeeds(["inspect", "--verbose", shift])
        let rows = verbose.split(separator: "\n").filter { $0.contains(".attn2.to_") && $0.contains("numerical rank") }
        XCTAssertEqual(rows.count, 8, "one line per K/V projection of the tiny model: \(verbose)")
        XCTAssertTrue(rows.allSatisfy { $0.contains("energy kept ") }, verbose)

        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try succeeds(["inspect", "--json", shift]).utf8)) as? [String: Any])
        XCTAssertEqual(json["concepts"] as? [String], ["a red circle"], "the metadata keys stay at the top level")
        let export = try XCTUnwrap(json["lora_export"] as? [String: Any])
        XCTAssertEqual(export["energy_rule"] as? Double, 0.999)
        XCTAssertEqual(export["max_numerical_rank"] as? Int, numerical)
        let projections = try XCTUnwrap(export["projections"] as? [String: [String: Any]])
        XCTAssertEqual(projections.count, 8)
        for (key, p) in projections {
            let rank = try XCTUnwrap(p["rank"] as? Int)
            let kept = try XCTUnwrap(p["energy_kept"] as? Double)
            XCTAssertLessThanOrEqual(rank, try XCTUnwrap(p["numerical_rank"] as? Int), key)
            XCTAssertGreaterThanOrEqual(kept, 0.999 * (1 - 1e-12), key)
            XCTAssertLessThanOrEqual(kept, 1, key)
        }
    }

    /// A SepME shift is factorised: exported exactly by default, energy 1, rank within the basis size.
    func testFactorisedShiftIsExactByDefault() throws {
        let out = scratch.appendingPathComponent("sepme")
        _ = try succeeds([
            "erase", "--model", Self.model, "--concept", "a red circle", "--protect", "zq watermark", "--images", "1",
            "--generation-steps", "2", "--max-iterations", "3", "--beta", "1e-2", "--output", out.path, "--quiet"
        ])
        let shift = out.appendingPathComponent("a-red-circle.sepme.safetensors").path
        let inspected = try succeeds(["inspect", shift])
        let basis = try XCTUnwrap(number(after: ", basis ", in: inspected), inspected)
        let numerical = try XCTUnwrap(number(after: "numerical up to ", in: inspected), inspected)
        XCTAssertLessThanOrEqual(numerical, basis)
        XCTAssertTrue(inspected.contains("min 1.000000, mean 1.000000 (exact: each projection at its numerical rank)"), inspected)
        let exported = try succeeds([
            "export-lora", "--shift", shift, "--format", "diffusers", "--output", scratch.appendingPathComponent("f.safetensors").path
        ])
        XCTAssertTrue(exported.contains("rank up to \(numerical) (numerical rank up to \(numerical))"), exported)
        XCTAssertTrue(exported.contains("(exact: each projection at its numerical rank)"), exported)
    }
}
