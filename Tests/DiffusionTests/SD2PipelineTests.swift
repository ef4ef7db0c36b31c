import CLIP
import Diffusion
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// Stable Diffusion 2.x end to end against diffusers' StableDiffusionPipeline on a tiny random-weight
/// folder of the stable-diffusion-2-1 architecture (Resources/pipeline-sd2/tiny-sd2, references from
/// scripts/make_sd2_pipeline_fixtures.py): a GELU text encoder, a tokenizer that pads with "!", a UNet
/// with linear projections, upcast attention and per-block head counts, a v-prediction DDIM folder
/// scheduler, and the Euler / Euler ancestral / DPM-Solver++ 2M samplers built from it. The prompt
/// embeddings must match transformers within 1e-4, the latents after every step diffusers within 1e-3
/// relative (max abs error / max |reference|), the decoded 8-bit images within one level.
final class SD2PipelineTests: XCTestCase {
    struct Case: Decodable {
        let sampler: String?
        let prompt: String
        let negative: String?
        let seed: UInt64
        let steps: Int
        let guidance: Float
        let batch: Int?
    }

    private static let directory = Bundle.module.url(forResource: "Resources/pipeline-sd2", withExtension: nil)
    private static let pipeline = SharedTestValue<Result<StableDiffusionPipeline, Error>> {
        Result {
            let dir = try XCTUnwrap(directory, "Resources/pipeline-sd2 is not in the test bundle")
            return try StableDiffusionPipeline(folder: ModelFolder(path: dir.appendingPathComponent("tiny-sd2").path))
        }
    }

    private func fixtures() throws -> (FixtureFile, [String: Case]) {
        let dir = try XCTUnwrap(Self.directory, "Resources/pipeline-sd2 is not in the test bundle")
        let references = try FixtureFile(path: dir.appendingPathComponent("references.safetensors").path)
        let cases = try JSONDecoder().decode(
            [String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("cases.json")))
        return (references, cases)
    }

    /// The folder really has the SD 2.x options, so the parity runs below exercise them.
    func testFolderHasTheSD2Options() throws {
        let pipeline = try Self.pipeline.value.get()
        XCTAssertEqual(pipeline.textEncoder.configuration.hiddenActivation, .gelu)
        XCTAssertEqual(pipeline.tokenizer.padTokenId, 0, "SD 2.x tokenizers pad with \"!\"")
        XCTAssertTrue(pipeline.unet.configuration.useLinearProjection)
        XCTAssertTrue(pipeline.unet.configuration.upcastAttention)
        XCTAssertEqual(pipeline.unet.configuration.attentionHeadDim, .many([2, 4, 8]))
        XCTAssertNil(pipeline.unet.configuration.numAttentionHeads)
        XCTAssertEqual(pipeline.schedulerConfiguration.predictionType, .vPrediction)
        XCTAssertEqual(try SamplerKind.resolve(nil, config: pipeline.schedulerConfiguration), .ddim)
    }

    func testPromptEmbeddingsMatchTransformers() throws {
        let pipeline = try Self.pipeline.value.get()
        let (references, cases) = try fixtures()
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let embeddings = pipeline.encode(prompts: [String](repeating: c.prompt, count: c.batch ?? 1))
            assertClose(embeddings, try references.tensor("\(name).prompt_embeds"), rtol: 1e-4, "\(name) prompt embeddings")
        }
    }

    func testTextToImageMatchesDiffusersStepByStep() throws {
        let pipeline = try Self.pipeline.value.get()
        let (references, cases) = try fixtures()
        XCTAssertEqual(
            Set(cases.keys),
            ["ddim_vpred", "ddim_vpred_negative_batch", "euler_vpred", "euler_a_vpred", "dpmpp_2m_vpred", "dpmpp_2m_karras_vpred"])
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let sampler = try c.sampler.map { try XCTUnwrap(SamplerKind(name: $0), $0) }
            let run = try pipeline.makeRun(
                GenerationOptions(
                    prompts: [c.prompt], negativePrompt: c.negative, seed: c.seed, steps: c.steps,
                    guidance: c.guidance, scheduler: sampler, imagesPerPrompt: c.batch ?? 1))
            let expected = try references.tensor("\(name).latents")  // [steps, B, 4, h, w]
            XCTAssertEqual(run.timesteps.count, expected.shape[0], name)
            var i = 0
            while run.step() {
                let reference = expected.sliced(axis: 0, i..<(i + 1)).reshaped(Array(expected.shape.dropFirst()))
                assertClose(run.latents, reference, rtol: 1e-3, "\(name) latents after step \(i + 1)")
                i += 1
            }
            XCTAssertEqual(i, c.steps, name)
            let images = ImageTensorConversion.images(fromPixels: try pipeline.decodeToPixels(run.latents))
            let image = try references.tensor("\(name).image")  // [B, H, W, 3]
            XCTAssertEqual(images.count, image.shape[0], name)
            var worst = 0
            for (b, img) in images.enumerated() {
                XCTAssertEqual([img.height, img.width], Array(image.shape[1...2]), name)
                let base = b * img.pixels.count
                for j in 0..<img.pixels.count { worst = max(worst, abs(Int(img.pixels[j]) - Int(image.pointer[base + j]))) }
            }
            XCTAssertLessThanOrEqual(worst, 1, "\(name): 8-bit images differ by up to \(worst) levels")
        }
    }
}
