@testable import ConceptErasure
import Diffusion
import Foundation
import TensorEngine
import XCTest

/// ESD-x and CA on the tiny model: their losses' gradients against central finite differences,
/// the script's timestep mapping, the anchor of each wording, end-to-end runs with an interruption
/// and a bit-identical resume, and the plan's refusals.
final class BaselineMethodTests: XCTestCase {
    let concept = "a red circle"

    /// Dense K/V deltas with small random values (away from the zero start), acting on `model`.
    private func randomWeights(_ model: ShiftSet, seed: UInt64 = 7, scale: Float = 1e-2) -> ShiftWeights {
        let weights = DenseFineTuning.trainableWeights(model: model)
        var g = PyTorchGenerator(seed: seed)
        for p in weights.trainableTensors {
            let r = Tensor.randn(p.shape, generator: &g) * scale
            p.pointer.update(from: r.scalars, count: p.count)
        }
        return weights
    }

    /// Checks the analytic gradient of `loss` with respect to every delta against central finite
    /// differences along three directions: two random ones and the gradient itself.
    private func checkGradient(model: ShiftSet, weights: ShiftWeights, loss: () -> Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let tensors = weights.trainableTensors
        model.withTrainingWeights([weights]) {
            let value = loss()
            value.backward()
            let grads = tensors.map { $0.grad?.scalars ?? [Float](repeating: 0, count: $0.count) }
            for t in tensors { t.zeroGrad() }
            let largest: Float = grads.map { row in row.map { abs($0) }.max() ?? 0 }.max() ?? 0
            XCTAssertGreaterThan(largest, 0, "the loss depends on the deltas", file: file, line: line)
            var g = PyTorchGenerator(seed: 3)
            var directions = (0..<2).map { _ in tensors.map { Tensor.randn($0.shape, generator: &g).scalars } }
            directions.append(grads)
            func dot(_ a: [[Float]], _ b: [[Float]]) -> Double {
                var total = 0.0
                for (x, y) in zip(a, b) {
                    for (u, v) in zip(x, y) { total += Double(u) * Double(v) }
                }
                return total
            }
            for (d, direction) in directions.enumerated() {
                let norm = Float(dot(direction, direction).squareRoot())
                let unit: [[Float]] = direction.map { row in row.map { $0 / norm } }
                let analytic = dot(grads, unit)
                let h: Float = 1e-2
                func shifted(_ s: Float) -> Double {
                    let originals = tensors.map(\.scalars)
                    for (t, (o, u)) in zip(tensors, zip(originals, unit)) {
                        t.pointer.update(from: zip(o, u).map { $0 + s * $1 }, count: t.count)
                    }
                    defer { for (t, o) in zip(tensors, originals) { t.pointer.update(from: o, count: t.count) } }
                    return GradMode.withNoGrad { Double(loss().item) }
                }
                let numeric = (shifted(h) - shifted(-h)) / Double(2 * h)
                // The float32 loss carries a relative rounding of about 1e-6 (a sum over a few hundred
                // terms, whose order depends on the BLAS kernels), which the difference quotient divides by 2h.
                let rounding = 1e-6 * abs(Double(value.item)) / Double(h)
                XCTAssertEqual(
                    numeric, analytic, accuracy: 2e-3 * max(abs(analytic), 1e-3) + rounding, "direction \(d)", file: file, line: line)
            }
        }
    }

    func testESDLossGradientMatchesFiniteDifferences() throws {
        let model = try TinyErasure.model()
        model.pipeline.unet.setRequiresGrad(false)
        let weights = randomWeights(model)
        var g = PyTorchGenerator(seed: 11)
        let xt = Tensor.randn([1, model.pipeline.latentChannels, 8, 8], generator: &g)
        let c = model.pipeline.conditioning(prompts: [concept])
        let blank = model.pipeline.unconditionalConditioning(count: 1)
        checkGradient(model: model, weights: weights) {
            ESDMethod.loss(model: model, xt: xt, timestep: 400, conditioning: c, blank: blank, negativeGuidance: 1)
        }
    }

    func testCALossGradientMatchesFiniteDifferences() throws {
        let model = try TinyErasure.model()
        model.pipeline.unet.setRequiresGrad(false)
        let weights = randomWeights(model)
        var g = PyTorchGenerator(seed: 12)
        let xt = Tensor.randn([1, model.pipeline.latentChannels, 8, 8], generator: &g)
        let c = model.pipeline.conditioning(prompts: [concept])
        let anchor = model.pipeline.conditioning(prompts: ["a circle"])
        checkGradient(model: model, weights: weights) {
            CAMethod.loss(model: model, xt: xt, timestep: 600, conditioning: c, anchor: anchor)
        }
    }

    /// The target is the original model's: it does not move with the deltas.
    func testTargetsIgnoreTheTrainedDeltas() throws {
        let model = try TinyErasure.model()
        var g = PyTorchGenerator(seed: 13)
        let xt = Tensor.randn([1, model.pipeline.latentChannels, 8, 8], generator: &g)
        let c = model.pipeline.conditioning(prompts: [concept])
        let anchor = model.pipeline.conditioning(prompts: ["a circle"])
        let original = GradMode.withNoGrad { model.pipeline.unet(xt, timesteps: [600], encoderHiddenStates: anchor.context) }
        let weights = randomWeights(model, scale: 1)
        let (withShift, unshifted) = GradMode.withNoGrad {
            model.withTrainingWeights([weights]) {
                let edited = model.pipeline.unet(xt, timesteps: [600], encoderHiddenStates: c.context)
                let loss = CAMethod.loss(model: model, xt: xt, timestep: 600, conditioning: c, anchor: anchor)
                return (loss.item, DenseFineTuning.meanSquaredError(edited, original).item)
            }
        }
        XCTAssertEqual(withShift, unshifted, accuracy: 1e-5 * abs(unshifted))
    }

    /// train-esd.py: DDIM step t_enc of S pairs with a DDPM timestep in [round(t_enc/S·T), round((t_enc+1)/S·T)).
    func testESDTimestepRangeFollowsTheScript() {
        XCTAssertTrue(ESDMethod.timestepRange(step: 0, steps: 50, trainTimesteps: 1000) == (0, 20))
        XCTAssertTrue(ESDMethod.timestepRange(step: 49, steps: 50, trainTimesteps: 1000) == (980, 1000))
        XCTAssertTrue(ESDMethod.timestepRange(step: 1, steps: 3, trainTimesteps: 1000) == (333, 667))
        // Python's round: half to even (2.5 -> 2).
        XCTAssertTrue(ESDMethod.timestepRange(step: 1, steps: 4, trainTimesteps: 10) == (2, 5))
        XCTAssertTrue(ESDMethod.timestepRange(step: 3, steps: 4, trainTimesteps: 10) == (8, 10))
    }

    func testAnchorOfEachWording() {
        let striped = CAOptions(anchor: "")
        XCTAssertEqual(striped.anchor(ofWording: "a striped circle", concept: "striped"), "a circle")
        XCTAssertEqual(striped.anchor(ofWording: "striped", concept: "striped"), "")
        XCTAssertEqual(striped.anchor(ofWording: "Striped  stars, striped", concept: "striped"), "stars,")
        let circle = CAOptions(anchor: "a circle")
        XCTAssertEqual(circle.anchor(ofWording: "a red circle on grey", concept: "a red circle"), "a circle on grey")
        XCTAssertEqual(circle.anchor(ofWording: "a scarlet ring", concept: "a red circle"), "a circle", "no concept text: the anchor")
    }

    private func run(_ plan: ErasurePlan, model: ShiftSet, dir: URL, resume: Bool = false, stopAfter polls: Int? = nil) throws -> ConceptShift {
        let observer = ErasureObserver(shouldStop: polls.map { TinyErasure.stop(afterPolls: $0) } ?? { false })
        let paths = try ErasureRun(plan: plan, output: dir, resume: resume, checkpoints: .onInterruption).run(on: model, observer: observer)
        return try ConceptShift.read(path: paths[0])
    }

    private func directory(_ label: String) throws -> URL {
        let url = try TinyErasure.temporaryDirectory(label)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// An interrupted run leaves a checkpoint; the resumed run's shift is bit-identical to an
    /// uninterrupted run's; a resume with other settings is refused.
    private func assertResumes(_ plan: ErasurePlan, stopAfter polls: Int, other: ErasurePlan) throws -> ConceptShift {
        let model = try TinyErasure.model()
        let expected = try run(plan, model: model, dir: directory("baseline-full"))
        let dir = try directory("baseline-resume")
        XCTAssertThrowsError(try run(plan, model: model, dir: dir, stopAfter: polls)) { e in
            guard case ErasureError.interrupted(let path?) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        }
        XCTAssertThrowsError(try run(other, model: model, dir: dir, resume: true)) { e in
            guard case ErasureError.checkpoint(_, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("settings"), reason)
        }
        let resumed = try run(plan, model: model, dir: dir, resume: true)
        XCTAssertEqual(resumed.metadata.training.iterations, expected.metadata.training.iterations)
        XCTAssertEqual(resumed.metadata.training.lossCurve, expected.metadata.training.lossCurve)
        for (key, d) in expected.deltas {
            XCTAssertEqual(resumed.deltas[key]?.scalars, d.scalars, "resumed delta \(key) is bit-identical")
        }
        XCTAssertEqual(expected.deltas.count, model.projections.keyValueProjections.count)
        XCTAssertTrue(expected.biasDeltas.isEmpty)
        XCTAssertFalse(expected.metadata.restorable)
        XCTAssertEqual(expected.metadata.method, plan.method)
        XCTAssertEqual(expected.metadata.training.stopReason, .maxIterations)
        return expected
    }

    /// The mean over a few timesteps of `loss` at x_t made from fixed noise, with `shift` or without.
    private func meanLoss(
        _ model: ShiftSet, shift: ConceptShift?, _ loss: (Tensor, Int) -> Tensor
    ) throws -> Double {
        var g = PyTorchGenerator(seed: 21)
        let xt = Tensor.randn([1, model.pipeline.latentChannels, 8, 8], generator: &g)
        return try model.withShifts(shift.map { [$0] } ?? []) {
            GradMode.withNoGrad { [100, 400, 700].map { Double(loss(xt, $0).item) }.reduce(0, +) / 3 }
        }
    }

    func testESDRunLowersItsLossAndResumesBitIdentically() throws {
        let h = TinyErasure.hyperparameters(generationSteps: 3)
        let options = ESDOptions(learningRate: 1e-2, iterations: 8)
        let plan = try ErasurePlan(method: .esdX, concepts: [concept], hyperparameters: h, esd: options)
        var otherOptions = options
        otherOptions.negativeGuidance = 2
        let other = try ErasurePlan(method: .esdX, concepts: [concept], hyperparameters: h, esd: otherOptions)
        // Polls: one per iteration and one per denoising step (at most 3): stops in iteration 3 or 4.
        let shift = try assertResumes(plan, stopAfter: 10, other: other)
        XCTAssertEqual(shift.metadata.esd, options)
        XCTAssertEqual(shift.metadata.hyperparameters.learningRate, 1e-2)
        let model = try TinyErasure.model()
        let c = model.pipeline.conditioning(prompts: [concept])
        let blank = model.pipeline.unconditionalConditioning(count: 1)
        func loss(_ xt: Tensor, _ t: Int) -> Tensor {
            ESDMethod.loss(model: model, xt: xt, timestep: t, conditioning: c, blank: blank, negativeGuidance: 1)
        }
        let before = try meanLoss(model, shift: nil, loss)
        let after = try meanLoss(model, shift: shift, loss)
        XCTAssertLessThan(after, 0.9 * before, "training lowers ESD's loss")
    }

    func testCARunLowersItsLossAndResumesBitIdentically() throws {
        let h = TinyErasure.hyperparameters(generationSteps: 3)
        let options = CAOptions(anchor: "a circle", learningRate: 1e-2, iterations: 8, images: 2)
        let plan = try ErasurePlan(method: .ca, concepts: [concept], hyperparameters: h, ca: options)
        var otherOptions = options
        otherOptions.anchor = "a square"
        let other = try ErasurePlan(method: .ca, concepts: [concept], hyperparameters: h, ca: otherOptions)
        // Polls: 2 images × 3 steps, then one per iteration: stops before iteration 4.
        let shift = try assertResumes(plan, stopAfter: 9, other: other)
        XCTAssertEqual(shift.metadata.ca, options)
        XCTAssertEqual(shift.metadata.training.trainingImages, 2)
        let model = try TinyErasure.model()
        let c = model.pipeline.conditioning(prompts: [concept])
        let anchor = model.pipeline.conditioning(prompts: ["a circle"])
        func loss(_ xt: Tensor, _ t: Int) -> Tensor { CAMethod.loss(model: model, xt: xt, timestep: t, conditioning: c, anchor: anchor) }
        let before = try meanLoss(model, shift: nil, loss)
        let after = try meanLoss(model, shift: shift, loss)
        XCTAssertLessThan(after, 0.9 * before, "training lowers CA's loss")
    }

    /// CA's wordings are each trained toward their own anchor, images generated from the anchors.
    func testCAAnchorsFollowTheWordings() throws {
        let plan = try ErasurePlan(
            method: .ca, concepts: ["striped"], conceptPrompts: ["striped": ["a striped circle", "a striped  square"]],
            ca: CAOptions(anchor: ""))
        XCTAssertEqual(CAMethod.anchors(plan: plan, conceptAt: 0, options: try XCTUnwrap(plan.ca)), ["", "a circle", "a square"])
    }

    func testPlansRefuseWhatTheirMethodCannotUse() {
        func refused(_ field: String, mentions needle: String, _ make: () throws -> ErasurePlan, line: UInt = #line) {
            XCTAssertThrowsError(try make(), line: line) { e in
                guard case ErasureError.invalidPlan(let f, let reason) = e else { return XCTFail("\(e)", line: line) }
                XCTAssertEqual(f, field, line: line)
                XCTAssertTrue(reason.contains(needle), reason, line: line)
            }
        }
        refused(CAOptions.anchorKey, mentions: "needs an anchor") { try ErasurePlan(method: .ca, concepts: ["x"]) }
        refused(CAOptions.anchorKey, mentions: "must differ") { try ErasurePlan(method: .ca, concepts: ["a cat"], ca: CAOptions(anchor: "A cat ")) }
        refused(CAOptions.anchorKey, mentions: "'a dog'") {
            try ErasurePlan(method: .ca, concepts: ["a cat"], conceptPrompts: ["a cat": ["a dog"]], ca: CAOptions(anchor: "a dog"))
        }
        refused(CAOptions.anchorKey, mentions: "belongs to the method 'ca'") { try ErasurePlan(concepts: ["x"], ca: CAOptions(anchor: "y")) }
        refused(ESDOptions.negativeGuidanceKey, mentions: "no negative guidance") {
            try ErasurePlan(method: .uce, concepts: ["x"], esd: ESDOptions(negativeGuidance: 2))
        }
        refused(ESDOptions.planKey, mentions: "'esd-x'") {
            try ErasurePlan(method: .ca, concepts: ["x"], esd: ESDOptions(), ca: CAOptions(anchor: ""))
        }
        refused(UCEOptions.preserveKey, mentions: "no preserve set") {
            try ErasurePlan(method: .esdX, concepts: ["x"], uce: UCEOptions(preserve: ["y"]))
        }
        refused("variant", mentions: "SepME variant") { try ErasurePlan(method: .ca, concepts: ["x"], variant: .joint, ca: CAOptions(anchor: "")) }
        refused("protected", mentions: "no protected prompt") { try ErasurePlan(method: .esdX, concepts: ["x"], protectedPrompts: ["w"]) }
        refused("decouple_from", mentions: "not decoupled") {
            try ErasurePlan(method: .ca, concepts: ["x"], decoupleFrom: ["old"], ca: CAOptions(anchor: ""))
        }
        refused("images_folder", mentions: "takes no training images") { try ErasurePlan(method: .esdX, concepts: ["x"], imagesFolder: "/tmp") }
        XCTAssertThrowsError(try ErasurePlan(method: .esdX, concepts: ["x"], esd: ESDOptions(negativeGuidance: .nan))) { e in
            XCTAssertEqual(e as? ErasureError, .outOfRange(key: ESDOptions.negativeGuidanceKey, value: "nan", allowed: "[0, 100]"))
        }
        XCTAssertThrowsError(try ErasurePlan(method: .ca, concepts: ["x"], ca: CAOptions(anchor: "", iterations: 0))) { e in
            XCTAssertEqual(e as? ErasureError, .outOfRange(key: CAOptions.iterationsKey, value: "0", allowed: "1...10000000"))
        }
    }

    /// Plans record the methods' settings (ESD-x's defaults when none are given) and read back equal.
    func testPlansRoundTripTheirSettings() throws {
        XCTAssertEqual(try ErasurePlan(method: .esdX, concepts: ["x"]).esd, ESDOptions())
        XCTAssertNil(try ErasurePlan(concepts: ["x"]).esd)
        XCTAssertEqual(ErasureMethodKind(rawValue: "esd-x"), .esdX)
        for plan in [
            try ErasurePlan(method: .esdX, concepts: ["x"], esd: ESDOptions(negativeGuidance: 2, iterations: 5)),
            try ErasurePlan(method: .ca, concepts: ["x"], ca: CAOptions(anchor: "y", images: 3))
        ] {
            let data = try JSONEncoder().encode(plan)
            let json = String(decoding: data, as: UTF8.self)
            XCTAssertTrue(json.contains(plan.method == .esdX ? "\"esd_x\"" : "\"anchor\""), json)
            XCTAssertEqual(try JSONDecoder().decode(ErasurePlan.self, from: data), plan)
        }
    }
}
