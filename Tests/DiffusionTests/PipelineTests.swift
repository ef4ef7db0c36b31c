import Diffusion
import Foundation
import ImageIO
import TensorEngine
import TestSupport
import XCTest

/// End-to-end parity with diffusers' StableDiffusionPipeline on tiny random-weight folders
/// (scripts/make_pipeline_fixtures.py): same seed → same initial noise → final latents within 1e-3
/// relative (max abs error / max |reference|), decoded 8-bit images within 1 level.
final class PipelineTests: XCTestCase {
    struct Case: Decodable {
        let prompt: String
        let negative: String?
        let seed: UInt64
        let steps: Int
        let guidance: Float
        let batch: Int?
        let eta: Float?
        let scheduler: String?
        let width: Int?
        let height: Int?
    }

    static let dir = Bundle.module.url(forResource: "Resources/pipeline", withExtension: nil)!
    static let references = try! FixtureFile(path: dir.appendingPathComponent("references.safetensors").path)
    static let cases = try! JSONDecoder().decode([String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("cases.json")))

    private func run(_ name: String, folder: String, folderURL: URL? = nil, useFolderScheduler: Bool = false) throws {
        let c = Self.cases[name]!
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: (folderURL ?? Self.dir.appendingPathComponent(folder)).path))
        let options = GenerationOptions(
            prompts: [c.prompt], negativePrompt: c.negative, seed: c.seed, steps: c.steps,
            guidance: c.guidance, width: c.width, height: c.height,
            scheduler: useFolderScheduler ? nil : c.scheduler.flatMap(SamplerKind.init(name:)),
            eta: c.eta ?? 0, imagesPerPrompt: c.batch ?? 1)
        let result = try pipeline.generate(options)
        assertClose(result.latents, try Self.references.tensor("\(name).latents"), rtol: 1e-3, "\(name) final latents")
        let expected = try Self.references.tensor("\(name).image")  // [B, H, W, 3]
        XCTAssertEqual(result.images.count, expected.shape[0], name)
        var worst = 0
        for (b, img) in result.images.enumerated() {
            XCTAssertEqual([img.height, img.width], Array(expected.shape[1...2]), name)
            let base = b * img.pixels.count
            for i in 0..<img.pixels.count { worst = max(worst, abs(Int(img.pixels[i]) - Int(expected.pointer[base + i]))) }
        }
        XCTAssertLessThanOrEqual(worst, 1, "\(name): 8-bit images differ by up to \(worst) levels")
    }

    func testGuidedDDIM() throws { try run("cfg", folder: "tiny-sd") }
    func testNegativePromptAndBatch() throws { try run("negative_batch", folder: "tiny-sd") }
    func testGuidanceOff() throws { try run("no_guidance", folder: "tiny-sd") }
    func testEtaNoiseFromTheSameGenerator() throws { try run("eta", folder: "tiny-sd") }
    func testDDPMFromTheFolderConfiguration() throws { try run("ddpm", folder: "tiny-sd") }
    func testNonSquareSize() throws { try run("size", folder: "tiny-sd") }
    func testPixelSpaceModelWithoutVAE() throws { try run("pixel", folder: "pixel-sd") }

    /// A folder whose scheduler is PNDM (as every SD1.x hub folder): the default sampler is PNDM/PLMS,
    /// n steps = n + 1 UNet evaluations, matching diffusers.
    func testPNDMFolderSchedulerIsTheDefault() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-pndm-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.dir.appendingPathComponent("tiny-sd"), to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let config = tmp.appendingPathComponent("scheduler/scheduler_config.json")
        try FileManager.default.removeItem(at: config)
        try FileManager.default.copyItem(at: Self.dir.appendingPathComponent("pndm-scheduler/scheduler_config.json"), to: config)
        try run("pndm", folder: "tiny-sd", folderURL: tmp, useFolderScheduler: true)
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: tmp.path))
        XCTAssertEqual(
            try pipeline.makeRun(GenerationOptions(prompts: ["x"], steps: 10)).timesteps,
            [901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1])
    }

    func testStepByStepRunCanStopAnywhere() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: Self.dir.appendingPathComponent("tiny-sd").path))
        let run = try pipeline.makeRun(GenerationOptions(prompts: ["a red circle"], seed: 0, steps: 10, guidance: 7.5))
        XCTAssertEqual(run.timesteps.count, 10)
        XCTAssertEqual(run.currentTimestep, run.timesteps[0])
        for _ in 0..<3 { XCTAssertTrue(run.step()) }
        XCTAssertEqual(run.stepIndex, 3)
        XCTAssertEqual(run.currentTimestep, run.timesteps[3])
        run.run()
        XCTAssertTrue(run.isFinished)
        XCTAssertFalse(run.step())
        assertClose(run.latents, try Self.references.tensor("cfg.latents"), rtol: 1e-3, "resumed step-by-step run")
    }

    /// Guidance evaluates x_t once under two contexts, sharing the UNet's text-free start; the result
    /// must be the batched evaluation of [x, x] under [uncond; cond].
    func testGuidedPredictionSharesTheTextFreeStart() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: Self.dir.appendingPathComponent("tiny-sd").path))
        var g = PyTorchGenerator(seed: 7)
        let x = Tensor.randn([2, pipeline.latentChannels, 8, 8], generator: &g)
        let context = pipeline.encode(prompts: ["", "", "a red circle", "a blue square"])
        let shared = GradMode.withNoGrad { pipeline.predictNoise(x, timestep: 421, context: context) }
        let batched = GradMode.withNoGrad {
            pipeline.unet(Tensor.concat([x, x], axis: 0), timesteps: [Float](repeating: 421, count: 4), encoderHiddenStates: context)
        }
        XCTAssertEqual(shared.shape, [4, pipeline.latentChannels, 8, 8])
        assertClose(shared, batched, rtol: 1e-5, "shared start against the duplicated batch")
    }

    func testBadInputIsNamed() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: Self.dir.appendingPathComponent("tiny-sd").path))
        XCTAssertThrowsError(try pipeline.makeRun(GenerationOptions(prompts: ["x"], width: 17, height: 16))) { e in
            XCTAssertTrue("\(e)".contains("17x16") && "\(e)".contains("scale factor 2"), "\(e)")
        }
        XCTAssertThrowsError(try ModelFolder(path: "/nonexistent/model")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/model"), "\(e)")
        }
        // A folder missing its UNet weights.
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-broken-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.dir.appendingPathComponent("tiny-sd"), to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        XCTAssertThrowsError(try ModelFolder(path: tmp.path)) { e in
            XCTAssertTrue("\(e)".contains("unet/diffusion_pytorch_model.safetensors"), "\(e)")
        }
    }
}
