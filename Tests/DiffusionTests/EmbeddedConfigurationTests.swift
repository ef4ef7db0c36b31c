import CLIP
import Diffusion
import Foundation
import XCTest

/// The embedded SDXL base 1.0 and SD 2.1 configurations that single files without `--config` are
/// read with: their files pass the same reading and cross-checks as a folder's and describe those
/// architectures (scripts/check_embedded_configs.py builds each component from them with diffusers
/// and transformers and checks the published parameter counts), and OpenCLIP's tokenizer (SD 2.x's,
/// SDXL's second) pads as transformers' `CLIPTokenizer(pad_token="!")` does.
final class EmbeddedConfigurationTests: XCTestCase {
    func testEmbeddedConfigurationIsSDXLBase() throws {
        let c = try SDXLFolderConfigurations.stableDiffusionXLBase()
        XCTAssertEqual(c.unet.blockOutChannels, [320, 640, 1280])
        XCTAssertEqual(c.unet.transformerLayersPerBlock, .many([1, 2, 10]))
        XCTAssertEqual(c.unet.attentionHeadDim, .many([5, 10, 20]))
        XCTAssertEqual(c.unet.crossAttentionDim, .one(2048))
        XCTAssertEqual(c.unet.layersPerBlock, .one(2))
        XCTAssertTrue(c.unet.useLinearProjection)
        XCTAssertEqual(c.unet.additionEmbedType, "text_time")
        XCTAssertEqual(c.unet.additionTimeEmbedDim, 256)
        XCTAssertEqual(c.unet.projectionClassEmbeddingsInputDim, 2816)
        XCTAssertEqual(c.unet.sampleSize, .one(128))
        // CLIP ViT-L and OpenCLIP bigG: 768 + 1280 = the UNet's 2048-wide context; bigG's pooled
        // projection (1280) plus six 256-wide time embeddings = 2816.
        XCTAssertEqual([c.text.hiddenSize, c.text.layerCount, c.text.headCount], [768, 12, 12])
        XCTAssertEqual(c.text.hiddenActivation, .quickGelu)
        XCTAssertEqual([c.text2.hiddenSize, c.text2.layerCount, c.text2.headCount, c.text2.intermediateSize], [1280, 32, 20, 5120])
        XCTAssertEqual(c.text2.hiddenActivation, .gelu)
        XCTAssertEqual(c.projectionDimension, 1280)
        XCTAssertEqual(c.vae.scalingFactor, 0.13025)
        XCTAssertEqual(c.vae.forceUpcast, true)
        XCTAssertEqual(c.scheduler.className, "EulerDiscreteScheduler")
        XCTAssertEqual(c.scheduler.predictionType, .epsilon)
        XCTAssertEqual(c.scheduler.betaSchedule, .scaledLinear)
        XCTAssertEqual(c.scheduler.betaStart, 0.00085)
        XCTAssertEqual(c.scheduler.betaEnd, 0.012)
        XCTAssertEqual(c.scheduler.stepsOffset, 1)
        XCTAssertEqual(c.scheduler.timestepSpacing, .leading)
        XCTAssertTrue(c.forceZerosForEmptyPrompt)
        XCTAssertTrue(c.unetFile.path.hasSuffix("sdxl-base-1.0/unet/config.json"), c.unetFile.path)
    }

    /// SD 2.1 (768 px, v prediction): OpenCLIP ViT-H's text tower as transformers stores it for
    /// diffusers (23 of its 24 layers: SD 2.x reads the penultimate one), 1024-wide context.
    func testEmbeddedConfigurationIsSD21() throws {
        let dir = StableDiffusionPipeline.bundledStableDiffusion21Folder
        let unet = try UNet2DConditionConfiguration.load(from: dir.appendingPathComponent("unet/config.json"))
        XCTAssertEqual(unet.blockOutChannels, [320, 640, 1280, 1280])
        XCTAssertEqual(unet.attentionHeadDim, .many([5, 10, 20, 20]))
        XCTAssertEqual(unet.crossAttentionDim, .one(1024))
        XCTAssertTrue(unet.useLinearProjection)
        XCTAssertTrue(unet.upcastAttention)
        XCTAssertEqual(unet.sampleSize, .one(96))
        let text = try CLIPTextConfiguration.load(from: dir.appendingPathComponent("text_encoder/config.json"))
        XCTAssertEqual([text.hiddenSize, text.layerCount, text.headCount, text.intermediateSize], [1024, 23, 16, 4096])
        XCTAssertEqual(text.hiddenActivation, .gelu)
        let scheduler = try SchedulerConfiguration.load(from: dir.appendingPathComponent("scheduler/scheduler_config.json"))
        XCTAssertEqual(scheduler.predictionType, .vPrediction)
        XCTAssertEqual(scheduler.stepsOffset, 1)
        XCTAssertEqual(scheduler.betaSchedule, .scaledLinear)
        let vae = try AutoencoderKLConfiguration.load(from: dir.appendingPathComponent("vae/config.json"))
        XCTAssertEqual(vae.scalingFactor, 0.18215)
    }

    /// Both tokenizers share CLIP's vocabulary; the first pads with the end token (49407), the second
    /// with "!" (id 0): the same ids up to the end token, then only the padding differs. A "!" in the
    /// text is the second tokenizer's pad token, read as id 0 as transformers reads it (the ids
    /// scripts/check_embedded_configs.py prints).
    func testSecondTokenizerPadsWithExclamationMark() throws {
        let first = try CLIPTokenizer.stableDiffusion1()
        let second = try CLIPTokenizer.openCLIP()  // SDXL's second tokenizer, SD 2.x's only one
        XCTAssertEqual(first.padTokenId, 49407)
        XCTAssertEqual(second.padTokenId, 0)
        XCTAssertEqual(second.modelMaxLength, 77)
        for prompt in ["", "a photo of an astronaut riding a horse", "Van Gogh, starry night"] {
            let a = first.encode(prompt)
            let b = second.encode(prompt)
            XCTAssertEqual(a.count, 77)
            XCTAssertEqual(b.count, 77)
            let end = try XCTUnwrap(a.firstIndex(of: 49407))
            XCTAssertEqual(Array(b[...end]), Array(a[...end]), prompt)
            XCTAssertEqual(Array(b[(end + 1)...]), Array(repeating: 0, count: 76 - end), prompt)
        }
        XCTAssertEqual(Array(second.encode("Van Gogh, starry night!").prefix(10)), [49406, 2451, 19697, 267, 30963, 930, 0, 49407, 0, 0])
        XCTAssertEqual(Array(second.encode("hello ! world").prefix(10)), [49406, 3306, 0, 1002, 49407, 0, 0, 0, 0, 0])
    }
}
