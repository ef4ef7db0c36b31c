import Foundation
import SafeTensors
import XCTest

/// `sepme bench erase-step` on a tiny 768-wide UNet: the JSON contract, and that the
/// "as scripted" reference really fills every UNet weight's gradient (its peak memory holds them).
final class BenchCommandLineTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// The tiny-sd UNet configuration with a CLIP ViT-L text width.
    private func tinyConfig(crossAttentionDim: Int) throws -> URL {
        let source = CommandLineTests.tinySD.appendingPathComponent("unet/config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
        object["cross_attention_dim"] = crossAttentionDim
        let url = scratch.appendingPathComponent("unet-\(crossAttentionDim).json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url
    }

    func testEraseStepJSONReport() throws {
        let r = try CommandLineTests.run([
            "bench", "erase-step", "--config", try tinyConfig(crossAttentionDim: 768).path,
            "--size", "8", "--json"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        let result = try XCTUnwrap(report["result"] as? [String: Any])
        func figures(_ key: String) throws -> (seconds: Double, bytes: Int, flops: Double) {
            let f = try XCTUnwrap(result[key] as? [String: Any], "missing \(key)")
            return (
                try XCTUnwrap(f["seconds"] as? Double), try XCTUnwrap(f["peakTensorBytes"] as? Int),
                try XCTUnwrap(f["flops"] as? Double)
            )
        }
        let sepme = try figures("sepme")
        let lean = try figures("leanReference")
        let scripted = try figures("scriptedReference")
        for f in [sepme, lean, scripted] { XCTAssertGreaterThan(f.seconds, 0) }
        let parameters = try XCTUnwrap(result["unetParameterCount"] as? Int)
        XCTAssertGreaterThan(parameters, 100_000)
        // The reference keeps a second UNet; the scripted one also holds a gradient for every weight.
        XCTAssertGreaterThanOrEqual(lean.bytes - sepme.bytes, 4 * parameters * 9 / 10)
        XCTAssertGreaterThanOrEqual(scripted.bytes - lean.bytes, 4 * parameters)
        // Counted products: the reference's four forwards and two backwards outnumber sepme's three
        // evaluations (two of them one batched gradient-free call) and one backward; filling every weight's
        // gradient adds a product per trainable weight.
        XCTAssertGreaterThan(sepme.flops, 0)
        XCTAssertGreaterThan(lean.flops, sepme.flops)
        XCTAssertGreaterThan(scripted.flops, lean.flops)
        XCTAssertGreaterThan(try XCTUnwrap(report["fp32PeakGFLOPS"] as? Double), 0)
        let ratio = try XCTUnwrap(report["ratioToScriptedReference"] as? Double)
        XCTAssertEqual(ratio, sepme.seconds / scripted.seconds, accuracy: 1e-9)
        // 768-wide CLIP ViT-L/14 null space of blank + "zq watermark" + nothing else: d − rank.
        let dimension = try XCTUnwrap(result["nullSpaceDimension"] as? Int)
        XCTAssertGreaterThan(dimension, 600)
        XCTAssertLessThan(dimension, 768)
    }

    /// `--sepme-only`: the reference layout (a second UNet) is neither timed nor reported.
    func testEraseStepSepMEOnly() throws {
        let r = try CommandLineTests.run([
            "bench", "erase-step", "--config", try tinyConfig(crossAttentionDim: 768).path, "--size", "8", "--json", "--sepme-only"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        let result = try XCTUnwrap(report["result"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap((result["sepme"] as? [String: Any])?["seconds"] as? Double), 0)
        XCTAssertNil(result["leanReference"])
        XCTAssertNil(result["scriptedReference"])
        XCTAssertNil(report["ratioToScriptedReference"])
        XCTAssertFalse(r.stderr.contains("timing the reference"), r.stderr)
    }

    /// An SDXL ("text_time") UNet: `bench unet` feeds it a pooled embedding and time ids; `erase-step`
    /// needs SDXL's encoders' widths and names what it found.
    func testBenchOnATextTimeUNet() throws {
        let config = CommandLineTests.packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline-sdxl/tiny-sdxl/unet/config.json")
        let unet = try CommandLineTests.run(["bench", "unet", "--config", config.path, "--size", "8"])
        XCTAssertEqual(unet.status, 0, unet.stderr)
        XCTAssertTrue(unet.stdout.contains("forward+backward:"), unet.stdout)
        let step = try CommandLineTests.run(["bench", "erase-step", "--config", config.path, "--size", "8"])
        XCTAssertNotEqual(step.status, 0)
        XCTAssertTrue(step.stderr.contains("cross_attention_dim 2048") && step.stderr.contains("got 64 and 32"), step.stderr)
    }

    func testEraseStepRefusesAnotherTextWidth() throws {
        let r = try CommandLineTests.run(["bench", "erase-step", "--config", try tinyConfig(crossAttentionDim: 32).path, "--size", "8"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cross_attention_dim is 32"), r.stderr)
    }

    /// `bench generate` on the tiny SD pipeline: fp32, one-shot bf16 and bf16 with the weights converted
    /// beforehand, the last two with the same latents.
    func testBenchGenerateReportsBothBF16Runs() throws {
        let folder = CommandLineTests.packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline/tiny-sd")
        let r = try CommandLineTests.run(["bench", "generate", "--model", folder.path, "--steps", "2", "--repeats", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("fp32: ") && r.stdout.contains("bf16 / fp32 time"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bf16 with the weights converted beforehand: ") && r.stdout.contains("(the same latents)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("final latents: max |bf16 - fp32|"), r.stdout)
        // The counted operations beside the peak measured in the same run, for each of the three runs.
        let counted = r.stdout.split(separator: "\n").first { $0.hasPrefix("counted operations: ") }
        let gflop = counted.flatMap { Double($0.dropFirst("counted operations: ".count).prefix { $0 != " " }) }
        XCTAssertGreaterThan(gflop ?? 0, 0, r.stdout)
        XCTAssertTrue(r.stdout.contains("fp32 peak ("), r.stdout)
        for run in ["  fp32: ", "  bf16: ", "  bf16, weights converted beforehand: "] {
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix(run) }
            XCTAssertTrue(line?.contains(" GFLOP/s, ") == true && line?.contains(" peak") == true, r.stdout)
        }
    }

    /// `bench generate --compare convolution`: the automatic route against direct sums, both timed, with the
    /// final latents' deviation; an unknown comparison is refused by name.
    func testBenchGenerateComparesConvolutionRoutes() throws {
        let folder = CommandLineTests.packageRoot.appendingPathComponent("Tests/DiffusionTests/Resources/pipeline/tiny-sd")
        let r = try CommandLineTests.run([
            "bench", "generate", "--model", folder.path, "--steps", "2", "--repeats", "1", "--compare", "convolution"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("automatic / direct time"), r.stdout)
        XCTAssertTrue(r.stdout.contains("final latents: max |automatic - direct|"), r.stdout)
        XCTAssertFalse(r.stdout.contains("bf16"), r.stdout)
        let bad = try CommandLineTests.run(["bench", "generate", "--model", folder.path, "--compare", "speed"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--compare"), bad.stderr)
    }

    /// `sepme bench load` loads the folder `1 + --repeats` times, each with every parameter (the count of
    /// the model's own tensors); a path that is no model is refused by name.
    func testLoadTimesEveryLoadAndNamesABadPath() throws {
        let r = try CommandLineTests.run(["bench", "load", "--model", CommandLineTests.tinySD.path, "--repeats", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var parameters = 0
        for component in ["text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"] {
            let file = try SafeTensorsFile(path: CommandLineTests.tinySD.appendingPathComponent(component).path)
            parameters += try file.keys.filter { !$0.hasSuffix("position_ids") }.reduce(0) { $0 + (try file.info($1).elementCount) }
        }
        let loads = r.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.hasSuffix(" parameters") }
        XCTAssertEqual(loads.count, 3, r.stdout)
        for line in loads { XCTAssertTrue(line.hasSuffix(", \(parameters) parameters"), "\(line) (\(parameters) in the files)") }
        XCTAssertTrue(r.stdout.contains("first load:") && r.stdout.contains("\nload:"), r.stdout)

        let missing = scratch.appendingPathComponent("no-model").path
        try CommandLineTests.assertFails(["bench", "load", "--model", missing], mentions: [missing])
        try CommandLineTests.assertFails(["bench", "load", "--model", CommandLineTests.tinySD.path, "--repeats", "0"], mentions: ["--repeats"])
    }
}
