import Foundation
import XCTest

/// Issue-12 classes through the erasure commands: every bad value is refused before any work with
/// one line naming the flag; shift files that would poison a model, collide or repeat are refused;
/// `inspect` cannot drive the terminal.
final class ErasureCommandLineTests: XCTestCase {
    var scratch: URL!
    static let model = CommandLineTests.tinySepME.path

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-erase-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func assertFails(_ args: [String], mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try CommandLineTests.assertFails(args, mentions: needles, file: file, line: line)
    }

    private func erase(_ extra: [String]) -> [String] {
        ["erase", "--model", Self.model, "--output", scratch.appendingPathComponent("shifts").path, "--quiet"] + extra
    }

    /// A quick real shift of the tiny model.
    private func trainedShift() throws -> URL {
        let out = scratch.appendingPathComponent("trained")
        let r = try CommandLineTests.run([
            "erase", "--model", Self.model, "--concept", "a red circle", "--protect", "zq watermark",
            "--images", "1", "--generation-steps", "2", "--max-iterations", "3", "--beta", "1e-2",
            "--output", out.path, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        return out.appendingPathComponent("a-red-circle.sepme.safetensors")
    }

    func testAbsurdErasureValuesAreRefusedUpFront() throws {
        try assertFails(erase(["--concept", ""]), mentions: ["--concept", "empty"])
        try assertFails(
            erase(["--concept", "a red circle", "--concept", "A RED circle!"]),
            mentions: ["--concept", "a-red-circle.sepme.safetensors"])
        try assertFails(erase(["--concept", "x", "--generation-guidance", "nan"]), mentions: ["--generation-guidance", "nan"])
        try assertFails(erase(["--concept", "x", "--beta", "1e30"]), mentions: ["--beta"])
        try assertFails(erase(["--concept", "x", "--tau", "-1"]), mentions: ["--tau"])
        try assertFails(erase(["--concept", "x", "--generation-steps", "0"]), mentions: ["--generation-steps"])
        try assertFails(erase(["--concept", "x", "--generation-steps", "5000"]), mentions: ["--generation-steps"])
        try assertFails(erase(["--concept", "x", "--variant", "sideways"]), mentions: ["--variant", "sideways"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("shifts").path), "nothing written")
        try assertFails(["demo", "--beta", "1e30", "--output", scratch.appendingPathComponent("d").path, "--quiet"], mentions: ["--beta"])
        try assertFails(["demo", "--guidance", "inf", "--output", scratch.appendingPathComponent("d").path, "--quiet"], mentions: ["--guidance"])
        try assertFails(
            ["eval", "--concepts", "a red circle", "--guidance", "nan", "--output", scratch.appendingPathComponent("e").path],
            mentions: ["--guidance"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("d").path))
    }

    /// `--train-size`: the concept is learned at another image size, which the shift records; bad
    /// sizes are refused by flag before any work, and it is no setting of a plan run or of UCE.
    func testTrainSizeIsRecordedAndBadSizesNamed() throws {
        let out = scratch.appendingPathComponent("sized")
        let r = try CommandLineTests.run([
            "erase", "--model", Self.model, "--concept", "a red circle", "--protect", "zq watermark", "--train-size", "16",
            "--images", "1", "--generation-steps", "2", "--max-iterations", "3", "--beta", "1e-2", "--output", out.path, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let inspected = try CommandLineTests.run(["inspect", "--json", out.appendingPathComponent("a-red-circle.sepme.safetensors").path])
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        let h = try XCTUnwrap(json["hyperparameters"] as? [String: Any], inspected.stdout)
        XCTAssertEqual(h["train_size"] as? Int, 16)
        try assertFails(erase(["--concept", "x", "--train-size", "0"]), mentions: ["--train-size"])
        try assertFails(erase(["--concept", "x", "--train-size", "100000"]), mentions: ["--train-size"])
        try assertFails(erase(["--concept", "x", "--method", "uce", "--train-size", "16"]), mentions: ["--train-size", "uce"])
        // A VAE model needs a multiple of its scale factor.
        try assertFails(
            ["erase", "--model", CommandLineTests.tinySD.path, "--concept", "x", "--train-size", "17", "--output", out.path + "2", "--quiet"],
            mentions: ["--train-size"])
    }

    func testShiftFilesThatWouldPoisonOrRepeatAreRefused() throws {
        let shift = try trainedShift()
        // The same shift twice is not stacked.
        try assertFails(
            [
                "export-lora", "--shift", shift.path, "--shift", shift.path, "--format", "kohya",
                "--output", scratch.appendingPathComponent("l.safetensors").path
            ], mentions: ["again"])
        try assertFails(
            [
                "generate", "--model", Self.model, "--prompt", "x", "--shift", shift.path, "--shift", shift.path,
                "--output", scratch.appendingPathComponent("g.png").path, "--quiet"
            ], mentions: ["again"])
        // A NaN written into a factor: refused by every reader, `apply` writes nothing.
        var bytes = try Data(contentsOf: shift)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as? [String: Any])
        let key = try XCTUnwrap(header.keys.first { $0.hasSuffix(".A") })
        let offset = 8 + n + ((header[key] as? [String: Any])?["data_offsets"] as? [Int] ?? [0])[0]
        for (i, b) in withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init).enumerated() { bytes[offset + i] = b }
        let poisoned = scratch.appendingPathComponent("nan.sepme.safetensors")
        try bytes.write(to: poisoned)
        try assertFails(["inspect", poisoned.path], mentions: [poisoned.path, key, "non-finite"])
        let applied = scratch.appendingPathComponent("applied")
        try assertFails(
            ["apply", "--model", Self.model, "--shift", poisoned.path, "--output", applied.path, "--quiet"],
            mentions: ["non-finite"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: applied.path))
    }

    /// UCE through the commands: SepME's variant and UCE's settings with the wrong method are refused
    /// by flag before any work; a UCE shift file is read by inspect, generate --shift and export-lora.
    func testUCEShiftThroughTheCommands() throws {
        try assertFails(erase(["--concept", "x", "--method", "uce", "--variant", "joint"]), mentions: ["--variant", "joint", "uce"])
        try assertFails(erase(["--concept", "x", "--preserve", "y"]), mentions: ["--preserve", "no preserve set"])
        try assertFails(erase(["--concept", "x", "--guide", "y"]), mentions: ["--guide", "sepme"])
        try assertFails(erase(["--concept", "x", "--method", "uce", "--uce-lambda", "0"]), mentions: ["--uce-lambda"])
        try assertFails(erase(["--concept", "x", "--method", "uce", "--erase-scale", "nan"]), mentions: ["--erase-scale"])
        try assertFails(erase(["--concept", "x", "--method", "uce", "--preserve-scale", "1e9"]), mentions: ["--preserve-scale"])
        try assertFails(erase(["--concept", "x", "--method", "uce", "--preserve", "X"]), mentions: ["--preserve", "erased and preserved"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("shifts").path), "nothing written")

        let out = scratch.appendingPathComponent("uce")
        let r = try CommandLineTests.run([
            "erase", "--model", Self.model, "--method", "uce", "--concept", "a red circle", "--guide", "a blue square",
            "--preserve", "zq watermark", "--output", out.path, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let shift = out.appendingPathComponent("a-red-circle.sepme.safetensors")
        let inspected = try CommandLineTests.run(["inspect", shift.path])
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        for needle in ["(uce)", "guide 'a blue square'", "preserve zq watermark", "lambda 0.5", "dense deltas", "closed form"] {
            XCTAssertTrue(inspected.stdout.contains(needle), "inspect should show '\(needle)': \(inspected.stdout)")
        }
        let image = scratch.appendingPathComponent("uce.png")
        let generated = try CommandLineTests.run([
            "generate", "--model", Self.model, "--prompt", "a red circle", "--shift", shift.path, "--steps", "2", "--output", image.path,
            "--quiet"
        ])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: image.path))
        let lora = scratch.appendingPathComponent("uce-lora.safetensors")
        let exported = try CommandLineTests.run(["export-lora", "--shift", shift.path, "--format", "diffusers", "--output", lora.path])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: lora.path))
    }

    /// ESD-x and CA through the commands: a missing or unchanged anchor, settings of another method,
    /// and flags the chosen method does not use are refused by flag before any work; the methods'
    /// own --lr and --max-iterations reach their settings, and each writes a dense shift that
    /// generate --shift reads.
    func testBaselineFlagsThroughTheCommands() throws {
        try assertFails(erase(["--concept", "x", "--method", "ca"]), mentions: ["--anchor", "needs an anchor"])
        try assertFails(erase(["--concept", "a cat", "--method", "ca", "--anchor", "A cat"]), mentions: ["--anchor", "must differ"])
        try assertFails(erase(["--concept", "x", "--anchor", "y"]), mentions: ["--anchor", "'ca'"])
        try assertFails(erase(["--concept", "x", "--negative-guidance", "2"]), mentions: ["--negative-guidance", "esd-x"])
        try assertFails(erase(["--concept", "x", "--method", "esd-x", "--negative-guidance", "nan"]), mentions: ["--negative-guidance"])
        try assertFails(erase(["--concept", "x", "--method", "esd-x", "--lr", "0"]), mentions: ["--lr"])
        try assertFails(erase(["--concept", "x", "--method", "ca", "--anchor", "", "--images", "0"]), mentions: ["--images"])
        try assertFails(erase(["--concept", "x", "--method", "esd-x", "--preserve", "y"]), mentions: ["--preserve", "no preserve set"])
        try assertFails(erase(["--concept", "x", "--method", "esd-x", "--protect", "w"]), mentions: ["--protect", "esd-x"])
        try assertFails(erase(["--concept", "x", "--method", "ca", "--anchor", "", "--variant", "joint"]), mentions: ["--variant", "joint"])
        for flag in [["--beta", "1e-2"], ["--tau", "0"], ["--tolerance", "1e-3"], ["--lambda", "0"], ["--alpha", "0.5"]] {
            try assertFails(erase(["--concept", "x", "--method", "esd-x"] + flag), mentions: [flag[0], "'esd-x' has no use"])
        }
        try assertFails(erase(["--concept", "x", "--method", "esd-x", "--images", "4"]), mentions: ["--images", "sepme, ca"])
        try assertFails(erase(["--concept", "x", "--method", "uce", "--max-iterations", "4"]), mentions: ["--max-iterations"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("shifts").path), "nothing written")

        for (method, extra) in [("esd-x", ["--negative-guidance", "2"]), ("ca", ["--anchor", "a circle", "--images", "1"])] {
            let out = scratch.appendingPathComponent(method)
            let r = try CommandLineTests.run(
                [
                    "erase", "--model", Self.model, "--method", method, "--concept", "a red circle", "--generation-steps", "2",
                    "--max-iterations", "2", "--lr", "1e-3", "--output", out.path, "--quiet"
                ] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            let shift = out.appendingPathComponent("a-red-circle.sepme.safetensors")
            let json = try XCTUnwrap(String(data: Data(contentsOf: shift), encoding: .isoLatin1))
            for needle in ["\\\"method\\\":\\\"\(method)\\\"", "\\\"iterations\\\":2", "\\\"lr\\\":0.001", ".delta"] {
                XCTAssertTrue(json.contains(needle), "\(method): the shift should hold \(needle)")
            }
            let image = scratch.appendingPathComponent("\(method).png")
            let generated = try CommandLineTests.run([
                "generate", "--model", Self.model, "--prompt", "a red circle", "--shift", shift.path, "--steps", "2", "--output",
                image.path, "--quiet"
            ])
            XCTAssertEqual(generated.status, 0, generated.stderr)
            let inspected = try CommandLineTests.run(["inspect", shift.path])
            XCTAssertEqual(inspected.status, 0, inspected.stderr)
            let line =
                method == "esd-x"
                ? "esd-x:          negative guidance 2, start guidance 3, lr 0.001, 2 iterations"
                : "ca:             anchor 'a circle', lr 0.001, 2 iterations, 1 images"
            XCTAssertTrue(inspected.stdout.contains(line), inspected.stdout)
            XCTAssertTrue(inspected.stdout.contains("(\(method)), NOT restorable"), inspected.stdout)
        }
    }

    /// Control characters and bidirectional overrides in a shift's metadata are printed escaped.
    func testInspectEscapesTerminalControls() throws {
        let shift = try trainedShift()
        var bytes = try Data(contentsOf: shift)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = String(decoding: bytes.subdata(in: 8..<(8 + n)), as: UTF8.self)
        // Same byte length, so the offsets stay valid: "a red circle" -> ESC "[2J" + RLO + "circle".
        header = header.replacingOccurrences(of: "a red circle", with: "\\\\u001b[2J\\\\u202ecircle")
        let body = Data(header.utf8)
        var out = Data((0..<8).map { UInt8((body.count >> (8 * $0)) & 0xFF) })
        out.append(body)
        out.append(bytes.subdata(in: (8 + n)..<bytes.count))
        bytes = out
        let crafted = scratch.appendingPathComponent("crafted.sepme.safetensors")
        try bytes.write(to: crafted)
        let r = try CommandLineTests.run(["inspect", crafted.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\u{202e}" }, r.stdout)
        XCTAssertTrue(r.stdout.contains("\\u{1b}[2J\\u{202e}circle"), r.stdout)
    }
}
