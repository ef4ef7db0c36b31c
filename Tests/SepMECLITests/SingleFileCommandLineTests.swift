import Foundation
import XCTest

/// `--config DIR` from the command line: an SD 2.x single file (Stability's key layout, the fixture
/// of SD2SingleFileTests) loads with the architecture of its diffusers folder and gives the folder's
/// image bit for bit; the flag is refused where it cannot apply, and a plan made on a single file
/// records the folder so that `erase --plan` tasks load the same model.
final class SingleFileCommandLineTests: XCTestCase {
    static let sd2 = CommandLineTests.packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline-sd2")
    static var singleFile: String { sd2.appendingPathComponent("tiny-sd2-original.safetensors").path }
    static var folder: String { sd2.appendingPathComponent("tiny-sd2").path }

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// The latents file `generate` writes for `model` (and `--config` when given).
    private func latents(model: String, config: String?, name: String) throws -> Data {
        let out = scratch.appendingPathComponent(name)
        let r = try CommandLineTests.run(
            ["generate", "--model", model] + (config.map { ["--config", $0] } ?? []) + [
                "--prompt", "a red circle", "--seed", "3", "--steps", "2", "--guidance", "5", "--output",
                out.appendingPathExtension("png").path, "--latents-out", out.appendingPathExtension("safetensors").path, "--quiet"
            ])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try Data(contentsOf: out.appendingPathExtension("safetensors"))
    }

    func testSingleFileWithConfigGeneratesTheFolderImage() throws {
        let single = try latents(model: Self.singleFile, config: Self.folder, name: "single")
        let folder = try latents(model: Self.folder, config: nil, name: "folder")
        XCTAssertEqual(single, folder, "the single file and its folder must give the same latents")
    }

    /// `--config` on a folder is refused; without it the tiny SD 2.x file is read with the embedded
    /// SD 2.1 configuration, which it does not fit (named); a missing `--config` folder is named.
    func testConfigRefusedWhereItCannotApply() throws {
        let png = scratch.appendingPathComponent("x.png").path
        try CommandLineTests.assertFails(
            ["generate", "--model", Self.folder, "--config", Self.folder, "--prompt", "x", "--output", png],
            mentions: ["only applies to a single-file checkpoint", Self.folder], unchanged: scratch)
        try CommandLineTests.assertFails(
            ["generate", "--model", Self.singleFile, "--prompt", "x", "--output", png],
            mentions: ["sd-2.1/unet/config.json", "parameters", Self.singleFile], unchanged: scratch)
        try CommandLineTests.assertFails(
            ["generate", "--model", Self.singleFile, "--config", scratch.appendingPathComponent("none").path, "--prompt", "x", "--output", png],
            mentions: ["none"], unchanged: scratch)
        try CommandLineTests.assertFails(["eval", "--config", Self.folder, "--concepts", "x"], mentions: ["--config needs --model"])
        try CommandLineTests.assertFails(
            ["erase", "--config", Self.folder, "--concept", "x", "--output", scratch.appendingPathComponent("o").path],
            mentions: ["--config needs --model"], unchanged: scratch)
    }

    func testPlanOnSingleFileRecordsItsConfiguration() throws {
        let dir = scratch.appendingPathComponent("plan")
        let r = try CommandLineTests.run([
            "erase", "--model", Self.singleFile, "--config", Self.folder, "--concept", "a red circle", "--protect", "a blue square",
            "--plan-only", "--output", dir.path, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("plan.json"))) as? [String: Any])
        let model = try XCTUnwrap(json["model"] as? [String: Any])
        XCTAssertEqual(model["path"] as? String, Self.singleFile)
        XCTAssertEqual(model["configuration"] as? String, Self.folder)
        // The tasks load the plan's own model with its recorded folder: measuring their needs loads
        // it (fingerprint checked), and each task's command passes the folder on.
        let slurm = try CommandLineTests.run(["cluster", "slurm", "--plan", dir.appendingPathComponent("plan.json").path, "--quiet"])
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        let exec = try XCTUnwrap(slurm.stdout.split(separator: "\n").first { $0.hasPrefix("exec ") })
        XCTAssertTrue(exec.contains("--config") && exec.contains(Self.folder), String(exec))
    }
}
