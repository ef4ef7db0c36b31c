import Diffusion
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// The new samplers end to end against diffusers' StableDiffusionPipeline on the tiny random-weight
/// folder (Resources/pipeline/tiny-sd; references from scripts/make_scheduler_fixtures.py in
/// Resources/scheduler-pipelines.safetensors): each sampler built from the folder's DDIM
/// configuration as diffusers' `from_config` does, the same seed, guidance on. The latents after every
/// step must match within 1e-4 relative (max abs error / max |reference|): this covers the initial
/// noise scaled by init_noise_sigma, the scaled model input, the float timesteps fed to the UNet and,
/// for Euler ancestral, the noise drawn from the generator after the initial latents.
final class SchedulerPipelineTests: XCTestCase {
    struct Case: Decodable {
        let sampler: String
        let prompt: String
        let seed: UInt64
        let steps: Int
        let guidance: Float
    }

    func testSamplersMatchDiffusersStepByStep() throws {
        let references = try FixtureFile(resource: "scheduler-pipelines", bundle: .module)
        let cases = try JSONDecoder().decode([String: Case].self, from: Data((references.metadata["cases"] ?? "").utf8))
        XCTAssertEqual(Set(cases.keys), ["euler_a", "euler", "euler_karras", "dpmpp_2m", "dpmpp_2m_karras"])
        let folder = try XCTUnwrap(Bundle.module.url(forResource: "Resources/pipeline/tiny-sd", withExtension: nil))
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: folder.path))
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let sampler = try XCTUnwrap(SamplerKind(name: c.sampler), c.sampler)
            let run = try pipeline.makeRun(
                GenerationOptions(prompts: [c.prompt], seed: c.seed, steps: c.steps, guidance: c.guidance, scheduler: sampler))
            let expected = try references.tensor("\(name).latents")  // [steps, 1, 4, 8, 8]
            XCTAssertEqual(run.timesteps.count, expected.shape[0], name)
            var i = 0
            while run.step() {
                let reference = expected.sliced(axis: 0, i..<(i + 1)).reshaped(Array(expected.shape.dropFirst()))
                assertClose(run.latents, reference, rtol: 1e-4, "\(name) (\(c.sampler)) latents after step \(i + 1)")
                i += 1
            }
        }
    }
}
