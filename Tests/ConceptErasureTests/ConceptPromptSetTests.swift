@testable import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// A concept erased on several wordings (`ErasurePlan.conceptPrompts`), on the tiny model: its
/// training images cycle over the wordings, its shift records them, and every other shift of the
/// plan leaves each of them unchanged, so removing the concept's shift restores all its wordings.
final class ConceptPromptSetTests: XCTestCase {
    let c1 = "a red circle", c1b = "a red square", c2 = "a striped blue star"

    func testEveryWordingOfAConceptIsDecoupledFromTheOthers() throws {
        let model = try TinyErasure.model()
        let plan = try ErasurePlan(
            concepts: [c1, c2], conceptPrompts: [c1: [c1b]], protectedPrompts: ["zq watermark"],
            hyperparameters: TinyErasure.hyperparameters(maxIterations: 6, seed: 2, generationSteps: 3))
        let latents = try TinyErasure.latents(plan, model: model)
        XCTAssertEqual(latents.map(\.prompts), [2, 1])
        // Image i shows wording i mod 2, and the iterations take the images in turn.
        XCTAssertEqual((0..<4).map { latents[0].draw(iteration: $0, promptCount: 2).prompt }, [0, 1, 0, 1])
        let user = TrainingLatents(latents: latents[0].latents, seeds: [])
        XCTAssertEqual((0..<3).map { user.draw(iteration: $0, promptCount: 3).prompt }, [0, 1, 2])

        let shifts = try TinyErasure.train(plan, model: model, latents: latents)
        XCTAssertEqual(shifts[0].metadata.concepts, [c1, c1b])
        XCTAssertEqual(shifts[0].name, c1)
        XCTAssertEqual(shifts[1].metadata.decoupledFrom, [c1, c1b])

        let pipeline = try XCTUnwrap(model.pipeline as? StableDiffusionPipeline)
        let layers = model.projections.keyValueProjections
        for prompt in [c1, c1b] {
            let e = pipeline.encode(prompts: [prompt])
            model.remove()
            let before = GradMode.withNoGrad { layers.map { $0.1(e) } }
            try model.install([shifts[1]])
            let after = GradMode.withNoGrad { layers.map { $0.1(e) } }
            for (i, (b, a)) in zip(before, after).enumerated() {
                let err = maxErrors(a, b)
                XCTAssertLessThanOrEqual(err.abs / max(err.refMax, 1e-12), 1e-6, "'\(prompt)' \(layers[i].0) under the shift of '\(c2)'")
            }
            // The concept's own shift reaches both wordings.
            try model.install([shifts[0]])
            let erased = GradMode.withNoGrad { layers.map { $0.1(e) } }
            let moved = zip(before, erased).map { b, a in maxErrors(a, b).abs }.max() ?? 0
            XCTAssertGreaterThan(moved, 0, "'\(prompt)' untouched by its own concept's shift")
        }
        model.remove()
    }
}
