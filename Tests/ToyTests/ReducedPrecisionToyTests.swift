import Diffusion
import Foundation
import TensorEngine
import XCTest
@testable import Toy

/// `GenerationOptions.precision = .bf16` on the embedded toy model with the demo's sampling (20 steps,
/// guidance 4, the model's ancestral DDPM sampler): the final latents (the images: the toy model has no
/// VAE) stay within a stated bound of fp32's. The figures it prints are the ones docs/benchmarks.md
/// states. Twenty steps with guidance amplify the bf16 rounding (about 2^-9 per operand) into a small
/// overall difference (the RMS bound) and a larger one on a few pixels at shape edges (the max bound).
/// Its models are smaller than the products `BF16Coverage.whereItPays` sends to bf16, so every test
/// runs with `.everyProduct` (`invokeTest`).
final class ReducedPrecisionToyTests: XCTestCase {
    override func invokeTest() {
        PrecisionMode.withCoverage(.everyProduct) { super.invokeTest() }
    }

    /// RMS(bf16 − fp32) / RMS(fp32) over the latents.
    static let maxRMSRatio = 0.04
    /// Largest |bf16 − fp32| over the latents, relative to max |fp32 latent|.
    static let maxRelativeError: Float = 0.5

    func testBF16LatentsStayCloseToFP32() throws {
        let url = try XCTUnwrap(ToyModelFolder.bundled, "Sources/Toy/Resources/toy-model is missing")
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: url.path))
        let prompts = ["a striped red circle", "an outlined heart in dotted style"]
        func latents(_ precision: ComputePrecision) throws -> Tensor {
            try pipeline.generate(GenerationOptions(prompts: prompts, seed: 5, steps: 20, guidance: 4, precision: precision)).latents
        }
        let fp32 = try latents(.fp32)
        let bf16 = try latents(.bf16)
        let deviation = PrecisionDeviation(of: bf16, from: fp32)
        let relative = deviation.largestRelative
        let rms = deviation.rmsRatio
        print(String(format: "toy model, 20 steps: max |bf16 - fp32| / max |fp32| = %.2e, RMS ratio %.2e", relative, rms))
        XCTAssertGreaterThan(deviation.largestDifference, 0, "the bf16 products were used")
        XCTAssertLessThan(rms, Self.maxRMSRatio)
        XCTAssertLessThan(relative, Self.maxRelativeError)
    }
}
