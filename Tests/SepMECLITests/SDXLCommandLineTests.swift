import Foundation
import TensorEngine
import TestSupport
import XCTest

/// `sepme generate` on the tiny SDXL folder of Tests/DiffusionTests/Resources/pipeline-sdxl
/// (scripts/make_sdxl_pipeline_fixtures.py): the final latents equal diffusers' within 1e-3 relative.
/// Erasure on SDXL from the command line: SDXLErasureCommandLineTests.
final class SDXLCommandLineTests: XCTestCase {
    static let fixtures = CommandLineTests.packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline-sdxl")
    static let tinySDXL = fixtures.appendingPathComponent("tiny-sdxl")

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-sdxl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// The case "euler_zero_negative" of the fixtures: the folder's Euler, no negative prompt (zero
    /// embeddings), guidance 5, 3 steps, seed 0, the default 16×16 size. No `--guidance` is given:
    /// an SDXL model's default is diffusers' `StableDiffusionXLPipeline` default, 5.
    func testGenerateMatchesDiffusersLatents() throws {
        let output = scratch.appendingPathComponent("out.png").path
        let latents = scratch.appendingPathComponent("lat.safetensors").path
        let r = try CommandLineTests.run([
            "generate", "--model", Self.tinySDXL.path, "--prompt", "a red circle", "--seed", "0", "--steps", "3",
            "--output", output, "--latents-out", latents, "--quiet"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output))
        let written = try FixtureFile(path: latents).tensor("latents")  // [1, 4, 8, 8]
        let steps = try FixtureFile(path: Self.fixtures.appendingPathComponent("references.safetensors").path)
            .tensor("euler_zero_negative.latents")  // [3, 1, 4, 8, 8]
        let last = steps.sliced(axis: 0, 2..<3).reshaped(Array(steps.shape.dropFirst()))
        assertClose(written, last, rtol: 1e-3, "generate --model tiny-sdxl final latents")
    }
}
