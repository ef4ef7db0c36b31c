import CLIP
import Diffusion
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// Stable Diffusion XL end to end against diffusers' StableDiffusionXLPipeline on a tiny random-weight
/// folder of the sdxl-base-1.0 architecture (Resources/pipeline-sdxl/tiny-sdxl, references from
/// scripts/make_sdxl_pipeline_fixtures.py): two text encoders (the second with projection, its
/// tokenizer padding with "!"), penultimate states concatenated, the pooled projection and six time
/// ids through the UNet's "text_time" embedding, force_zeros_for_empty_prompt, a VAE with
/// scaling_factor 0.13025, the folder's Euler scheduler and two other samplers. The prompt embeddings
/// must match diffusers' `encode_prompt` within 1e-4, the latents after every step within 1e-3
/// relative (max abs error / max |reference|), the decoded 8-bit images within one level.
final class SDXLPipelineTests: XCTestCase {
    struct Case: Decodable {
        let sampler: String?
        let prompt: String
        let negative: String?
        let seed: UInt64
        let steps: Int
        let guidance: Float
        let batch: Int?
        let width: Int?
        let height: Int?
    }

    private static let directory = Bundle.module.url(forResource: "Resources/pipeline-sdxl", withExtension: nil)
    private static let pipeline = SharedTestValue<Result<StableDiffusionXLPipeline, Error>> {
        Result {
            let dir = try XCTUnwrap(directory, "Resources/pipeline-sdxl is not in the test bundle")
            return try StableDiffusionXLPipeline(folder: ModelFolder(path: dir.appendingPathComponent("tiny-sdxl").path))
        }
    }

    private func fixtures() throws -> (FixtureFile, [String: Case]) {
        let dir = try XCTUnwrap(Self.directory, "Resources/pipeline-sdxl is not in the test bundle")
        let references = try FixtureFile(path: dir.appendingPathComponent("references.safetensors").path)
        let cases = try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("cases.json")))
        return (references, cases)
    }

    /// The folder is recognised as SDXL and has the options the parity runs below exercise.
    func testFolderIsRecognisedWithTheSDXLOptions() throws {
        let dir = try XCTUnwrap(Self.directory).appendingPathComponent("tiny-sdxl")
        let folder = try ModelFolder(path: dir.path)
        XCTAssertTrue(folder.isStableDiffusionXL)
        XCTAssertTrue(folder.forceZerosForEmptyPrompt)
        XCTAssertEqual(folder.textEncoder2?.lastPathComponent, "text_encoder_2")
        XCTAssertThrowsError(try StableDiffusionPipeline(folder: folder)) { error in
            XCTAssertEqual(
                error as? ModelFamilyMismatchError,
                ModelFamilyMismatchError(path: dir.path, family: .stableDiffusionXL, accepted: [.stableDiffusion1, .stableDiffusion2]))
        }
        let pipeline = try Self.pipeline.value.get()
        XCTAssertEqual(pipeline.tokenizer2.padTokenId, 0, "SDXL's second tokenizer pads with \"!\"")
        XCTAssertNotEqual(pipeline.tokenizer.padTokenId, 0)
        XCTAssertEqual(pipeline.vae.configuration.scalingFactor, 0.13025)
        XCTAssertEqual(pipeline.vae.configuration.forceUpcast, true)
        XCTAssertEqual(pipeline.unet.configuration.additionEmbedType, "text_time")
        XCTAssertEqual(pipeline.defaultImageSize.width, 16)
        XCTAssertEqual(pipeline.defaultImageSize.height, 16)
        XCTAssertEqual(try SamplerKind.resolve(nil, config: pipeline.schedulerConfiguration), .euler)
    }

    func testPromptEmbeddingsMatchDiffusersEncodePrompt() throws {
        let pipeline = try Self.pipeline.value.get()
        let (references, cases) = try fixtures()
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let embeddings = pipeline.encode(prompts: [String](repeating: c.prompt, count: c.batch ?? 1))
            assertClose(embeddings.context, try references.tensor("\(name).prompt_embeds"), rtol: 1e-4, "\(name) prompt embeddings")
            assertClose(embeddings.pooled, try references.tensor("\(name).pooled"), rtol: 1e-4, "\(name) pooled embeddings")
            let ids = StableDiffusionXLPipeline.timeIds(width: c.width ?? 16, height: c.height ?? 16)
            XCTAssertEqual(ids, try references.tensor("\(name).add_time_ids").scalars, name)
        }
    }

    func testTextToImageMatchesDiffusersStepByStep() throws {
        let pipeline = try Self.pipeline.value.get()
        let (references, cases) = try fixtures()
        XCTAssertEqual(
            Set(cases.keys), ["euler_zero_negative", "euler_negative_batch", "dpmpp_2m_karras_empty_negative", "euler_a_no_guidance"])
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let sampler = try c.sampler.map { try XCTUnwrap(SamplerKind(name: $0), $0) }
            let run = try pipeline.makeRun(
                GenerationOptions(
                    prompts: [c.prompt], negativePrompt: c.negative, seed: c.seed, steps: c.steps, guidance: c.guidance,
                    width: c.width, height: c.height, scheduler: sampler, imagesPerPrompt: c.batch ?? 1))
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

    /// Configurations that do not fit together are refused by name before any weight is read.
    func testMismatchedConfigurationsAreNamed() throws {
        let source = try XCTUnwrap(Self.directory).appendingPathComponent("tiny-sdxl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sdxl-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        func edit(_ file: String, _ body: (inout [String: Any]) -> Void) throws {
            let url = dir.appendingPathComponent(file)
            var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            body(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: url)
        }
        try edit("text_encoder_2/config.json") { $0["projection_dim"] = 24 }
        XCTAssertThrowsError(try SDXLFolderConfigurations(folder: ModelFolder(path: dir.path))) { error in
            guard case .pooledWidthMismatch(_, 24, 6, _, 8, 80)? = error as? PipelineConsistencyError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue("\(error)".contains("projection_class_embeddings_input_dim 80"), "\(error)")
        }
        try edit("text_encoder_2/config.json") { $0["projection_dim"] = 32 }
        try edit("unet/config.json") { $0["cross_attention_dim"] = 48 }
        XCTAssertThrowsError(try SDXLFolderConfigurations(folder: ModelFolder(path: dir.path))) { error in
            guard case .textWidthSumMismatch(_, [32, 32], _, 48)? = error as? PipelineConsistencyError else {
                return XCTFail("\(error)")
            }
        }
    }
}
