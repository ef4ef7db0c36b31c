import Foundation
import TensorEngine
import XCTest

/// Runs the `sepme` executable on bad input: each case must exit non-zero with a one-line error that
/// names the cause, and write nothing.
final class CommandLineTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tinySD = packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline/tiny-sd")
    static let tinySepME = packageRoot.appendingPathComponent("Tests/ConceptErasureTests/Resources/tiny-sepme")

    /// The built `sepme` next to the test bundle.
    static var executable: URL {
        var dir = Bundle(for: CommandLineTests.self).bundleURL
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("sepme").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("sepme")
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func run(_ args: [String]) throws -> Result { try Self.run(args) }

    /// Runs the built executable (with `environment` added to this process's) and collects its exit
    /// status and output.
    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = Self.executable
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Fails unless `args` fails cleanly (status 1, or 64 for a usage error: never a signal) with one
    /// `Error:` line that contains every one of `needles`; with `unchanged`, nothing in that folder
    /// may appear, vanish or be renamed.
    static func assertFails(
        _ args: [String], mentions needles: [String], unchanged folder: URL? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let before = try folder.map { try FileManager.default.contentsOfDirectory(atPath: $0.path).sorted() }
        let r = try run(args)
        XCTAssertTrue([1, 64].contains(r.status), "expected a clean failure, got \(r.status): \(args)\n\(r.stderr)", file: file, line: line)
        let errorLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(errorLines.count, 1, "one error line expected, got: \(r.stderr)", file: file, line: line)
        for n in needles { XCTAssertTrue(r.stderr.contains(n), "error should mention '\(n)': \(r.stderr)", file: file, line: line) }
        if let folder, let before {
            let after = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            XCTAssertEqual(after, before, "nothing may be written", file: file, line: line)
        }
    }

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func copyModel(_ from: URL) throws -> URL {
        let dst = scratch.appendingPathComponent("model")
        try FileManager.default.copyItem(at: from, to: dst)
        return dst
    }

    /// Fails unless `args` fails cleanly with one error line containing every `needles`, writing nothing.
    private func assertFails(_ args: [String], mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try Self.assertFails(args, mentions: needles, unchanged: scratch, file: file, line: line)
    }

    private var output: String { scratch.appendingPathComponent("out.png").path }

    func testGenerateWritesImageAndLatents() throws {
        let latents = scratch.appendingPathComponent("lat.safetensors").path
        let r = try run([
            "generate", "--model", Self.tinySD.path, "--prompt", "a red circle", "--seed", "0", "--steps", "3",
            "--guidance", "7.5", "--output", output, "--latents-out", latents, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output))
        XCTAssertTrue(FileManager.default.fileExists(atPath: latents))
    }

    /// `--precision bf16` on a CPU where bf16 products are slower than fp32 ones says that the run keeps
    /// fp32 products (`BF16Payoff`), and says nothing where they pay or with --quiet.
    func testPrecisionBF16SaysWhereBF16DoesNotPay() throws {
        let args = [
            "generate", "--model", Self.tinySD.path, "--prompt", "a red circle", "--steps", "2", "--precision", "bf16",
            "--output", output
        ]
        let r = try run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let note = "--precision bf16: bf16 does not pay on this CPU"
        XCTAssertEqual(r.stderr.contains(note), !BF16Payoff.verdict.pays, r.stderr)
        let quiet = try run(args + ["--quiet"])
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertFalse(quiet.stderr.contains(note), quiet.stderr)
    }

    func testMissingWeightFile() throws {
        let model = try copyModel(Self.tinySD)
        try FileManager.default.removeItem(at: model.appendingPathComponent("vae/diffusion_pytorch_model.safetensors"))
        try assertFails(
            ["generate", "--model", model.path, "--prompt", "x", "--output", output],
            mentions: ["vae/diffusion_pytorch_model.safetensors", "missing"])
    }

    func testTruncatedWeightFile() throws {
        let model = try copyModel(Self.tinySD)
        let weights = model.appendingPathComponent("unet/diffusion_pytorch_model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        try assertFails(
            ["generate", "--model", model.path, "--prompt", "x", "--output", output],
            mentions: ["unet/diffusion_pytorch_model.safetensors"])
    }

    func testConfigThatContradictsTheWeights() throws {
        let model = try copyModel(Self.tinySD)
        let config = model.appendingPathComponent("unet/config.json")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        let original = json["cross_attention_dim"]
        json["cross_attention_dim"] = 48
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        // Caught by the pipeline's consistency check before any weight is read.
        try assertFails(
            ["generate", "--model", model.path, "--prompt", "x", "--output", output],
            mentions: ["cross_attention_dim 48", "hidden_size"])
        // Back to the folder's own value (removing the key would select diffusers' default, 1280).
        json["cross_attention_dim"] = original
        let textConfig = model.appendingPathComponent("text_encoder/config.json")
        var text = try JSONSerialization.jsonObject(with: Data(contentsOf: textConfig)) as! [String: Any]
        text["intermediate_size"] = (text["intermediate_size"] as! Int) + 8
        try JSONSerialization.data(withJSONObject: text).write(to: textConfig)
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        try assertFails(["generate", "--model", model.path, "--prompt", "x", "--output", output], mentions: ["fc1.weight"])
    }

    func testUnknownScheduler() throws {
        try assertFails(
            ["generate", "--model", Self.tinySD.path, "--prompt", "x", "--scheduler", "lms", "--output", output],
            mentions: ["lms"])
    }

    func testSizeNotDivisibleByTheScaleFactor() throws {
        try assertFails(
            ["generate", "--model", Self.tinySD.path, "--prompt", "x", "--width", "17", "--height", "16", "--output", output],
            mentions: ["17x16", "scale factor 2"])
    }

    func testEmptyPromptFile() throws {
        let prompts = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString).txt")
        try Data("\n  \n".utf8).write(to: prompts)
        defer { try? FileManager.default.removeItem(at: prompts) }
        try assertFails(
            ["generate", "--model", Self.tinySD.path, "--prompt-file", prompts.path, "--output", output],
            mentions: [prompts.path, "no prompts"])
    }

    func testEraseBadInput() throws {
        let out = scratch.appendingPathComponent("shifts").path
        try assertFails(
            [
                "erase", "--model", Self.tinySepME.path, "--concept", "a red circle", "--protect", "A red circle",
                "--output", out, "--quiet"
            ], mentions: ["also listed as protected"])
        try? FileManager.default.removeItem(atPath: out)
        try assertFails(
            ["erase", "--model", Self.tinySepME.path, "--concept", "a red circle", "--images", "0", "--output", out],
            mentions: ["--images"])
        try assertFails(
            [
                "erase", "--model", Self.tinySepME.path, "--concept", "a red circle", "--generation-scheduler", "lms",
                "--output", out
            ], mentions: ["--generation-scheduler", "lms"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output for a refused request")
        let bogus = scratch.appendingPathComponent("bogus.sepme.safetensors")
        try Data("nope".utf8).write(to: bogus)
        try assertFails(["inspect", bogus.path], mentions: [bogus.path])
    }
}
