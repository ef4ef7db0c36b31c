import Diffusion
import Foundation
import ImageIO
import TensorEngine
import XCTest

/// `GenerationOptions.precision = .bf16` on the tiny SD-shaped pipeline (tiny-sd: UNet widths 16 / 32,
/// VAE, CLIP text encoder): the final latents after 20 steps stay within a stated bound of fp32's. The
/// figures it prints are the ones docs/benchmarks.md states.
/// Its models are smaller than the products `BF16Coverage.whereItPays` sends to bf16, so every test
/// runs with `.everyProduct` (`invokeTest`).
final class ReducedPrecisionPipelineTests: XCTestCase {
    override func invokeTest() {
        PrecisionMode.withCoverage(.everyProduct) { super.invokeTest() }
    }

    /// Largest |bf16 − fp32| over the latents, relative to max |fp32 latent|.
    static let maxRelativeError: Float = 0.05
    /// RMS(bf16 − fp32) / RMS(fp32) over the latents.
    static let maxRMSRatio: Float = 0.05

    func testBF16LatentsStayCloseToFP32() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: ModelFolderFuzzTests.tinySD.path))
        func latents(_ precision: ComputePrecision) throws -> Tensor {
            try pipeline.generate(
                GenerationOptions(prompts: ["a photo of a cat", "a red car"], seed: 3, steps: 20, guidance: 7.5, precision: precision)
            ).latents
        }
        let fp32 = try latents(.fp32)
        let bf16 = try latents(.bf16)
        let deviation = PrecisionDeviation(of: bf16, from: fp32)
        let relative = deviation.largestRelative
        let rms = Float(deviation.rmsRatio)
        print(String(format: "tiny-sd, 20 steps: max |bf16 - fp32| / max |fp32| = %.2e, RMS ratio %.2e", relative, rms))
        XCTAssertGreaterThan(deviation.largestDifference, 0, "the bf16 products were used")
        XCTAssertLessThan(relative, Self.maxRelativeError)
        XCTAssertLessThan(rms, Self.maxRMSRatio)
        XCTAssertEqual(try latents(.bf16).scalars, bf16.scalars, "bf16 generation is deterministic")
    }

    /// A bf16 generation decodes in bf16 too: its images are the bf16 decode of its latents, which differs
    /// from the fp32 decode of the same latents by at most a few 8-bit levels.
    func testBF16GenerationDecodesInBF16() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: ModelFolderFuzzTests.tinySD.path))
        let result = try pipeline.generate(
            GenerationOptions(prompts: ["a photo of a cat"], seed: 4, steps: 4, guidance: 7.5, precision: .bf16))
        let bf16Images = ImageTensorConversion.images(fromPixels: try pipeline.decodeToPixels(result.latents, precision: .bf16))
        let fp32Images = ImageTensorConversion.images(fromPixels: try pipeline.decodeToPixels(result.latents, precision: .fp32))
        XCTAssertEqual(result.images, bf16Images)
        let pixelDifferences = zip(result.images[0].pixels, fp32Images[0].pixels).map { abs(Int($0) - Int($1)) }
        XCTAssertGreaterThan(pixelDifferences.max() ?? 0, 0, "the decoder's bf16 products were used")
        XCTAssertLessThanOrEqual(pixelDifferences.max() ?? 0, 8, "bf16 decoding stays within a few levels of fp32's")
    }

    /// One weight cache given to several generations (`GenerationOptions.bf16Weights`, as `generate
    /// --prompt-file` does): the first converts the UNet's weights into it (the decoder's are converted for
    /// each product and not kept), the next ones convert nothing more, and every generation gives the
    /// images a generation with its own cache gives.
    func testSharedWeightCacheConvertsOnceAndChangesNothing() throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: ModelFolderFuzzTests.tinySD.path))
        let shared = BF16WeightCache()
        func options(_ prompt: String, _ cache: BF16WeightCache?) -> GenerationOptions {
            GenerationOptions(prompts: [prompt], seed: 5, steps: 3, guidance: 7.5, precision: .bf16, bf16Weights: cache)
        }
        let first = try pipeline.generate(options("a photo of a cat", shared))
        let converted = shared.count
        let bytes = shared.byteCount
        XCTAssertGreaterThan(converted, 0)
        let unetOnly = BF16WeightCache()
        let run = try pipeline.makeRun(options("a photo of a cat", unetOnly))
        while run.currentTimestep != nil { run.step() }
        XCTAssertEqual(unetOnly.count, converted, "the cache holds the UNet's weights, nothing of the decoder's")
        let second = try pipeline.generate(options("a red car", shared))
        XCTAssertEqual(shared.count, converted, "the second generation converted nothing")
        XCTAssertEqual(shared.byteCount, bytes)
        XCTAssertEqual(first.images, try pipeline.generate(options("a photo of a cat", nil)).images)
        XCTAssertEqual(second.images, try pipeline.generate(options("a red car", nil)).images)
        XCTAssertEqual(second.latents.scalars, try pipeline.generate(options("a red car", nil)).latents.scalars)
    }

    /// A cache that replaces the UNet's weights by their converted copies (as `generate --precision bf16`
    /// gives): its generations, two prompts then one (the batch changes between groups), give the latents
    /// and images a cache of copies gives on another copy of the model, and it releases fp32 weights
    /// (a read of a released weight would stop the test).
    func testCacheThatReplacesWeightsGivesTheSameGenerations() throws {
        let folder = try ModelFolder(path: ModelFolderFuzzTests.tinySD.path)
        let kept = try StableDiffusionPipeline(folder: folder)
        let replaced = try StableDiffusionPipeline(folder: folder)
        let copies = BF16WeightCache()
        let replacing = BF16WeightCache(retention: .copiesReplacingWeights)
        for prompts in [["a photo of a cat", "a red car"], ["a red car"]] {
            func options(_ cache: BF16WeightCache) -> GenerationOptions {
                GenerationOptions(prompts: prompts, seed: 5, steps: 3, guidance: 7.5, precision: .bf16, bf16Weights: cache)
            }
            let expected = try kept.generate(options(copies))
            let result = try replaced.generate(options(replacing))
            XCTAssertEqual(result.latents.scalars, expected.latents.scalars, "\(prompts.count) prompts")
            XCTAssertEqual(result.images, expected.images, "\(prompts.count) prompts")
        }
        XCTAssertEqual(replacing.count, copies.count)
        XCTAssertEqual(replacing.byteCount, copies.byteCount)
        XCTAssertGreaterThan(replacing.releasedByteCount, 0)
        XCTAssertEqual(copies.releasedByteCount, 0)
    }
}
