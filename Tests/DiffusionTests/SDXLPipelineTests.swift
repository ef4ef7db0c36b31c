import CLIP
import Diffusion
import Foundation
import NeuralNet
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
        // Every module that holds weights, the VAE included (what loading reads and a model identity covers).
        let modules: [Module] = [pipeline.textEncoder, pipeline.textEncoder2, pipeline.unet, pipeline.vae]
        XCTAssertEqual(pipeline.imageModules.map(ObjectIdentifier.init), modules.map(ObjectIdentifier.init))
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
            var worstLatent: Float = 0
            while run.step() {
                let reference = expected.sliced(axis: 0, i..<(i + 1)).reshaped(Array(expected.shape.dropFirst()))
                assertClose(run.latents, reference, rtol: 1e-3, "\(name) latents after step \(i + 1)")
                let e = maxErrors(run.latents, reference)
                worstLatent = max(worstLatent, e.abs / e.refMax)
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
            print("SDXL \(name): latents relative max error \(worstLatent) over \(i) steps, images differ by \(worst) levels")
        }
    }

    /// Without `_class_name`, a `text_encoder_2` component marks SDXL; an SDXL class without one is
    /// refused naming the missing component.
    func testFamilyDetectionFromComponents() throws {
        let source = try XCTUnwrap(Self.directory).appendingPathComponent("tiny-sdxl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sdxl-detect-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model_index.json"))
        XCTAssertTrue(try ModelFolder(path: dir.path).isStableDiffusionXL)
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("model_index.json"), to: dir.appendingPathComponent("model_index.json"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("text_encoder_2"))
        XCTAssertThrowsError(try ModelFolder(path: dir.path)) { error in
            XCTAssertEqual(
                error as? ModelFolder.Error,
                .missingFile(dir.appendingPathComponent("text_encoder_2").path, what: "the text_encoder_2 component"))
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

    /// The configuration files of stabilityai/stable-diffusion-xl-base-1.0 (as published; the tiny
    /// folder's weights and tokenizers stand in, since only configurations are read) pass every
    /// check: the UNet's options, 768 + 1280 = 2048 context width, 1280 + 6 × 256 = 2816 pooled and
    /// time-id width, 1024 px default size.
    func testSDXLBase10ConfigurationsAreAccepted() throws {
        let source = try XCTUnwrap(Self.directory).appendingPathComponent("tiny-sdxl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sdxl-base-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let unet = """
            {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.19.0.dev0", "act_fn": "silu",
             "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256,
             "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280], "center_input_sample": false,
             "class_embed_type": null, "class_embeddings_concat": false, "conv_in_kernel": 3, "conv_out_kernel": 3,
             "cross_attention_dim": 2048, "cross_attention_norm": null,
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             "downsample_padding": 1, "dual_cross_attention": false, "encoder_hid_dim": null, "encoder_hid_dim_type": null,
             "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
             "mid_block_only_cross_attention": null, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
             "norm_eps": 1e-05, "norm_num_groups": 32, "num_attention_heads": null, "num_class_embeds": null,
             "only_cross_attention": false, "out_channels": 4, "projection_class_embeddings_input_dim": 2816,
             "resnet_out_scale_factor": 1.0, "resnet_skip_time_act": false, "resnet_time_scale_shift": "default",
             "sample_size": 128, "time_cond_proj_dim": null, "time_embedding_act_fn": null, "time_embedding_dim": null,
             "time_embedding_type": "positional", "timestep_post_act": null, "transformer_layers_per_block": [1, 2, 10],
             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": null,
             "use_linear_projection": true}
            """
        func text(hidden: Int, intermediate: Int, layers: Int, heads: Int, act: String, architecture: String) -> String {
            """
            {"architectures": ["\(architecture)"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
             "eos_token_id": 2, "hidden_act": "\(act)", "hidden_size": \(hidden), "initializer_factor": 1.0,
             "initializer_range": 0.02, "intermediate_size": \(intermediate), "layer_norm_eps": 1e-05,
             "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": \(heads),
             "num_hidden_layers": \(layers), "pad_token_id": 1, "projection_dim": \(hidden), "torch_dtype": "float16",
             "transformers_version": "4.32.0.dev0", "vocab_size": 49408}
            """
        }
        let vae = """
            {"_class_name": "AutoencoderKL", "_diffusers_version": "0.20.0.dev0", "act_fn": "silu",
             "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D",
             "DownEncoderBlock2D", "DownEncoderBlock2D"], "force_upcast": true, "in_channels": 3, "latent_channels": 4,
             "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3, "sample_size": 1024, "scaling_factor": 0.13025,
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}
            """
        let scheduler = """
            {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false, "interpolation_type": "linear",
             "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": false,
             "skip_prk_steps": true, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": null,
             "use_karras_sigmas": false}
            """
        let files = [
            ("unet/config.json", unet), ("vae/config.json", vae), ("scheduler/scheduler_config.json", scheduler),
            (
                "text_encoder/config.json",
                text(hidden: 768, intermediate: 3072, layers: 12, heads: 12, act: "quick_gelu", architecture: "CLIPTextModel")
            ),
            (
                "text_encoder_2/config.json",
                text(hidden: 1280, intermediate: 5120, layers: 32, heads: 20, act: "gelu", architecture: "CLIPTextModelWithProjection")
            )
        ]
        for (path, json) in files { try Data(json.utf8).write(to: dir.appendingPathComponent(path)) }
        let configurations = try SDXLFolderConfigurations(folder: ModelFolder(path: dir.path))
        XCTAssertEqual(configurations.unet.transformerLayersPerBlock, .many([1, 2, 10]))
        XCTAssertEqual(configurations.text.hiddenSize + configurations.text2.hiddenSize, 2048)
        XCTAssertEqual(configurations.projectionDimension + 6 * (configurations.unet.additionTimeEmbedDim ?? 0), 2816)
        XCTAssertEqual((configurations.unet.sampleSize?.all.first ?? 0) * configurations.vae.spatialScaleFactor, 1024)
        XCTAssertEqual(configurations.vae.scalingFactor, 0.13025)
        XCTAssertEqual(try SamplerKind.resolve(nil, config: configurations.scheduler), .euler)
        // The benchmarks' built-in SDXL base configurations are these files' (every field a UNet reads).
        let unetValues = { (c: UNet2DConditionConfiguration) in
            "\([c.blockOutChannels, c.inChannels, c.outChannels]) \(c.downBlockTypes) \(c.upBlockTypes) \(c.layersPerBlock) "
                + "\(String(describing: c.attentionHeadDim)) \(String(describing: c.numAttentionHeads)) \(c.crossAttentionDim) "
                + "\(c.transformerLayersPerBlock) \(c.useLinearProjection) \(String(describing: c.additionEmbedType)) "
                + "\(String(describing: c.additionTimeEmbedDim)) \(String(describing: c.projectionClassEmbeddingsInputDim)) "
                + "\(String(describing: c.sampleSize)) \(String(describing: c.normNumGroups)) \(c.flipSinToCos) \(c.freqShift) \(c.upcastAttention)"
        }
        XCTAssertEqual(unetValues(.sdxlBase), unetValues(configurations.unet))
        XCTAssertEqual(CLIPTextConfiguration.openCLIPBigG, configurations.text2)
        XCTAssertEqual(CLIPTextConfiguration.sd15, configurations.text)
        XCTAssertEqual(configurations.projectionDimension, CLIPTextConfiguration.openCLIPBigG.hiddenSize)
    }

    /// A hub folder holding only `*.fp16.safetensors` variant files (both text encoders included)
    /// gives the plain folder's latents bit for bit.
    func testFolderOfOnlyFP16VariantsGivesTheSameLatents() throws {
        let source = try XCTUnwrap(Self.directory).appendingPathComponent("tiny-sdxl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sdxl-fp16-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let files = [
            "unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "text_encoder_2/model.safetensors",
            "vae/diffusion_pytorch_model.safetensors"
        ]
        for relative in files {
            let plain = dir.appendingPathComponent(relative)
            let variant = plain.deletingLastPathComponent().appendingPathComponent(ComponentWeightsFile.variantName(of: plain.lastPathComponent))
            try FileManager.default.moveItem(at: plain, to: variant)
        }
        let folder = try ModelFolder(path: dir.path)
        XCTAssertEqual(folder.textEncoder2Weights?.lastPathComponent, "model.fp16.safetensors")
        let options = GenerationOptions(prompts: ["a red circle"], seed: 3, steps: 2, guidance: 5)
        let variant = try StableDiffusionXLPipeline(folder: folder).makeRun(options)
        let plain = try Self.pipeline.value.get().makeRun(options)
        variant.run()
        plain.run()
        XCTAssertEqual(variant.latents.scalars, plain.latents.scalars)
    }

    /// A bf16 cache that replaces the SDXL UNet's weights by their converted copies (as `generate
    /// --precision bf16` gives), every product in bf16: two prompts then one give the latents a cache of
    /// copies gives on the shared pipeline, and it releases fp32 weights (a read of a released weight,
    /// in the UNet or in its added-condition embeddings, which run in the same scope, would stop the test).
    func testCacheThatReplacesWeightsGivesTheSameLatents() throws {
        let dir = try XCTUnwrap(Self.directory, "Resources/pipeline-sdxl is not in the test bundle")
        let replaced = try StableDiffusionXLPipeline(folder: ModelFolder(path: dir.appendingPathComponent("tiny-sdxl").path))
        let kept = try Self.pipeline.value.get()
        let copies = BF16WeightCache()
        let replacing = BF16WeightCache(retention: .copiesReplacingWeights)
        try PrecisionMode.withCoverage(.everyProduct) {
            for prompts in [["a red circle", "a blue square"], ["a blue square"]] {
                func latents(_ pipeline: StableDiffusionXLPipeline, _ cache: BF16WeightCache) throws -> [Float] {
                    let options = GenerationOptions(
                        prompts: prompts, seed: 3, steps: 2, guidance: 5, precision: .bf16, bf16Weights: cache)
                    let run = try pipeline.makeRun(options)
                    run.run()
                    return run.latents.scalars
                }
                XCTAssertEqual(try latents(replaced, replacing), try latents(kept, copies), "\(prompts.count) prompts")
            }
        }
        XCTAssertEqual(replacing.count, copies.count)
        XCTAssertGreaterThan(replacing.releasedByteCount, 0)
    }
}
