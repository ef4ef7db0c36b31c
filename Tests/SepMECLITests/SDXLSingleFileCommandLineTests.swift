import Foundation
import SafeTensors
import XCTest

/// An SDXL single file in Stability's `sgm` layout (the fixture of SDXLSingleFileTests) from the
/// command line: with `--config` (its diffusers folder) it generates the folder's latents bit for bit,
/// SepME erases on it (`--train-size` below the native size) with the same shift as on the folder,
/// and without `--config` it is read with the embedded SDXL base configuration.
final class SDXLSingleFileCommandLineTests: XCTestCase {
    static let sdxl = CommandLineTests.packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline-sdxl")
    static var singleFile: String { sdxl.appendingPathComponent("tiny-sdxl-original.safetensors").path }
    static var folder: String { sdxl.appendingPathComponent("tiny-sdxl").path }

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-sdxl-single-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func modelArguments(single: Bool) -> [String] {
        single ? ["--model", Self.singleFile, "--config", Self.folder] : ["--model", Self.folder]
    }

    func testSingleFileGeneratesTheFolderLatents() throws {
        func latents(single: Bool) throws -> Data {
            let out = scratch.appendingPathComponent(single ? "single" : "folder")
            let r = try CommandLineTests.run(
                ["generate"] + modelArguments(single: single) + [
                    "--prompt", "a red circle", "--seed", "3", "--steps", "2", "--guidance", "5", "--output",
                    out.appendingPathExtension("png").path, "--latents-out", out.appendingPathExtension("safetensors").path, "--quiet"
                ])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try Data(contentsOf: out.appendingPathExtension("safetensors"))
        }
        XCTAssertEqual(try latents(single: true), try latents(single: false), "the single file and its folder must give the same latents")
    }

    /// A short SepME run at `--train-size 8` (the model draws 16 px) on the single file and on the
    /// folder: the same shift tensors, the train size recorded.
    func testEraseOnTheSingleFileMatchesTheFolder() throws {
        func erase(single: Bool) throws -> SafeTensorsFile {
            let out = scratch.appendingPathComponent(single ? "single-shifts" : "folder-shifts")
            let r = try CommandLineTests.run(
                ["erase"] + modelArguments(single: single) + [
                    "--concept", "a red circle", "--protect", "zq watermark", "--train-size", "8", "--images", "1",
                    "--generation-steps", "2", "--max-iterations", "3", "--beta", "0.03", "--output", out.path, "--quiet"
                ])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try SafeTensorsFile(path: out.appendingPathComponent("a-red-circle.sepme.safetensors").path)
        }
        let single = try erase(single: true)
        let folder = try erase(single: false)
        XCTAssertEqual(single.keys, folder.keys)
        XCTAssertFalse(single.keys.isEmpty)
        for key in single.keys {
            XCTAssertEqual(try single.floats(key), try folder.floats(key), key)
        }
        let inspected = try CommandLineTests.run(["inspect", "--json", single.path])
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((json["hyperparameters"] as? [String: Any])?["train_size"] as? Int, 8, inspected.stdout)
        XCTAssertEqual(json["model_family"] as? String, "stable-diffusion-xl", inspected.stdout)
    }

    /// Without `--config` the file is read with the embedded SDXL base configuration, which this tiny
    /// file does not fit: refused naming the file and that configuration.
    func testSingleFileWithoutConfigUsesTheEmbeddedBaseConfiguration() throws {
        try CommandLineTests.assertFails(
            ["generate", "--model", Self.singleFile, "--prompt", "x", "--output", scratch.appendingPathComponent("x.png").path],
            mentions: [Self.singleFile, "sdxl-base-1.0/unet/config.json", "parameters"], unchanged: scratch)
    }
}
