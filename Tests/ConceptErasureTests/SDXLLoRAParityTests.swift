@testable import ConceptErasure
import Diffusion
import Foundation
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// The Swift side of scripts/check_sdxl_lora_export.py: a shift that `sepme erase` trained on the tiny
/// SDXL folder (Resources/sdxl-lora/shift.sepme.safetensors), exported by `sepme export-lora` in both
/// layouts and loaded by diffusers' `StableDiffusionXLPipeline.load_lora_weights`, gives the noise
/// predictions of Resources/sdxl-lora/reference.safetensors; sepme's own UNet with that shift baked in
/// (what `apply` writes) and as an adapter gives the same within 1e-4 relative per prompt.
final class SDXLLoRAParityTests: XCTestCase {
    func testShiftedUNetMatchesDiffusersWithTheExportedLoRA() throws {
        let model = try TinyErasure.sdxlModel()
        let pipeline = try XCTUnwrap(model.pipeline as? StableDiffusionXLPipeline)
        let folder = Bundle.module.url(forResource: "Resources/sdxl-lora", withExtension: nil)!
        let shift = try ConceptShift.read(path: folder.appendingPathComponent("shift.sepme.safetensors").path)
        let reference = try SafeTensorsFile(path: folder.appendingPathComponent("reference.safetensors").path)
        let prompts = try XCTUnwrap(reference.metadata["prompts"]).components(separatedBy: "\n")
        let timesteps = try XCTUnwrap(reference.metadata["timesteps"]).split(separator: ",").compactMap { Float($0) }
        XCTAssertEqual(prompts.count, 5)
        XCTAssertEqual(timesteps.count, 3)
        func tensor(_ key: String) throws -> Tensor { Tensor(try reference.floats(key), shape: try reference.info(key).shape) }
        let sample = try tensor("sample")  // [1, 4, 8, 8]
        let conditioning = pipeline.conditioning(prompts: prompts)
        func predictions() -> [Tensor] {  // per timestep: [P, 4, 8, 8]
            GradMode.withNoGrad {
                timesteps.map { t in
                    pipeline.predictNoise(sample, timestep: t, conditioning: conditioning)
                }
            }
        }
        let base = predictions()
        let baked = try model.withShiftsFused([shift]) { predictions() }
        let adapted = try model.withShifts([shift]) { predictions() }
        for format in ["diffusers", "kohya"] {
            let expected = try tensor("\(format).eps")  // [T, P, 4, 8, 8]
            for (i, t) in timesteps.enumerated() {
                let e = expected.sliced(axis: 0, i..<(i + 1)).reshaped(Array(expected.shape.dropFirst()))
                for (p, prompt) in prompts.enumerated() {
                    let want = e.sliced(axis: 0, p..<(p + 1))
                    let label = "\(format), t \(t), '\(prompt)'"
                    assertClose(baked[i].sliced(axis: 0, p..<(p + 1)), want, rtol: 1e-4, "baked vs diffusers LoRA, \(label)")
                    assertClose(adapted[i].sliced(axis: 0, p..<(p + 1)), want, rtol: 1e-4, "adapter vs diffusers LoRA, \(label)")
                }
            }
        }
        // Not vacuous: the erased concept moves far beyond the tolerance.
        let concept = try XCTUnwrap(prompts.firstIndex(of: shift.name))
        let moved = maxErrors(baked[1].sliced(axis: 0, concept..<(concept + 1)), base[1].sliced(axis: 0, concept..<(concept + 1)))
        XCTAssertGreaterThan(moved.abs / moved.refMax, 1e-2)
    }
}
