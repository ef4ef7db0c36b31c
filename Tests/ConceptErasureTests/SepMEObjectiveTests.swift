@testable import ConceptErasure
import Diffusion
import Foundation
import NeuralNet
import TensorEngine
import TestSupport
import XCTest

/// The pieces of SepME's objective and stopping that follow the paper and the authors' code
/// (method.md §2-3): the L1 term's normalisation, the η weights of the joint form, a stop
/// statistic fed the correlation alone, one stop per group, and the full variant's parameter set.
final class SepMEObjectiveTests: XCTestCase {
    let c1 = "a red circle", c2 = "a striped blue star"

    private func plan(_ concepts: [String], variant: ErasureVariant, maxIterations: Int = 12, lambda: Double? = nil, tau: Double? = nil)
        throws -> ErasurePlan
    {
        var h = TinyErasure.hyperparameters(maxIterations: maxIterations, variant: variant)
        if let lambda { h.lambda = lambda }
        if let tau { h.tau = tau }
        return try ErasurePlan(
            concepts: concepts, protectedPrompts: variant == .full ? [] : ["zq watermark"], variant: variant, hyperparameters: h)
    }

    /// m_n of the recurrence over `inputs` (m_1 = L_1).
    private func momentum(_ inputs: [Double], alpha: Double) -> Double? {
        inputs.reduce(nil as Double?) { m, l in m.map { alpha * $0 + (1 - alpha) * l } ?? l }
    }

    // MARK: L1 term

    /// P = Σ_i |T_i|₁ / (number of changed tensors): with a basis of unit rows, |β A S|₁ = β |A|₁,
    /// so the term is β Σ|A| over the K and V factors divided by 2 per layer (the authors' 32 on SD1).
    func testL1TermIsTheMeanOverTheShiftedMatrices() throws {
        let model = try TinyErasure.model()
        let projections = model.projections.keyValueProjections
        let d = model.projections.textWidth
        let m = 3
        var basisRows = [Float](repeating: 0, count: m * d)
        for i in 0..<m { basisRows[i * d + 2 * i + 1] = 1 }
        let basis = Tensor(basisRows, shape: [m, d])
        var factors: [String: Tensor] = [:]
        var handSum: Double = 0
        for (n, (key, linear)) in projections.enumerated() {
            let values = (0..<(linear.outFeatures * m)).map { Float(($0 % 7) - 3) * Float(n + 1) / 8 }
            handSum += values.map { Double(abs($0)) }.reduce(0, +)
            factors[key] = Tensor(values, shape: [linear.outFeatures, m])
        }
        let beta: Float = 0.25
        let shift = ShiftWeights.factorised(beta: beta, basis: basis, factors: factors)
        XCTAssertEqual(shift.changedTensorCount, 2 * model.projections.layers.count)
        let expected = Double(beta) * handSum / Double(2 * model.projections.layers.count)
        XCTAssertEqual(Double(SepMEObjective.l1Penalty(ofSum: [shift]).item), expected, accuracy: 1e-5 * expected)

        // Joint form: the term of the summed shift, Σ |β (A_1 + A_2) S|₁ / 2M; with A_2 = −A_1 it is 0.
        let opposite = ShiftWeights.factorised(beta: beta, basis: basis, factors: factors.mapValues { $0 * -1 })
        XCTAssertEqual(SepMEObjective.l1Penalty(ofSum: [shift, opposite]).item, 0)
        let twice = SepMEObjective.l1Penalty(ofSum: [shift, shift]).item
        XCTAssertEqual(Double(twice), 2 * expected, accuracy: 2e-5 * expected)
    }

    /// The full variant's term: Σ|ΔW| + Σ|Δb| over every weight and bias it changes, divided by
    /// their count (the authors' `CiE.py`: Σ|θ − θ₀| / number of tensors).
    func testFullVariantL1TermCountsEveryChangedTensorIncludingTheBias() throws {
        let model = try TinyErasure.model()
        let shift = FullVariant().trainableWeights(
            projections: model.projections, basis: nil, beta: 1, reachThreshold: ShiftAdapter.exactZeroTolerance)
        let layers = model.projections.layers.count
        XCTAssertEqual(shift.changedTensorCount, 5 * layers, "q, k, v, out weights and the out bias of every attn2")
        var handSum: Double = 0
        for (i, t) in shift.trainableTensors.enumerated() {
            let values = (0..<t.count).map { Float(($0 + i) % 5) - 2 }
            handSum += values.map { Double(abs($0)) }.reduce(0, +)
            t.pointer.update(from: values, count: t.count)
        }
        let expected = handSum / Double(5 * layers)
        XCTAssertEqual(Double(SepMEObjective.l1Penalty(ofSum: [shift]).item), expected, accuracy: 1e-5 * expected)
    }

    // MARK: Joint weighting and stopping

    func testBalancingWeightsFollowTheMaximumOverEachLoss() {
        XCTAssertEqual(SepMEObjective.balancingWeights([0.2, -0.05, 0.1]), [1, 4, 2])
        XCTAssertEqual(SepMEObjective.balancingWeights([0.3]), [1], "one concept is not reweighted")
        XCTAssertEqual(SepMEObjective.balancingWeights([0.2, 0]), [1, 1], "a zero loss keeps weight 1")
        // Σ η_k L_k = max|L| · Σ sign(L_k).
        XCTAssertEqual(SepMEObjective.weightedCorrelation([0.2, -0.05, 0.1]), 0.2, accuracy: 1e-15)
        XCTAssertEqual(SepMEObjective.weightedCorrelation([3e-3, 1e-5]), 6e-3, accuracy: 1e-15)
    }

    /// A synthetic pair of loss sequences: concept 1 is erased at once (its loss alone would stop at
    /// the 10th iteration), concept 2 never is. Fed the weighted sum, the one statistic never reaches τ:
    /// the group goes on to the iteration limit together.
    func testOneStatisticOverTheWeightedSumStopsTheGroupTogether() {
        let losses = (0..<40).map { _ in [1e-5, 1e-3] }
        var alone = MomentumStopRule(alpha: 0.9, tau: 1e-4, minIterations: 10, maxIterations: 40)
        var aloneStop: Int?
        for l in losses where aloneStop == nil { if alone.record(l[0]) == .converged { aloneStop = alone.iterations } }
        XCTAssertEqual(aloneStop, 10)
        var group = MomentumStopRule(alpha: 0.9, tau: 1e-4, minIterations: 10, maxIterations: 40)
        var decisions: [MomentumStopRule.Decision] = []
        for l in losses { decisions.append(group.record(SepMEObjective.weightedCorrelation(l))) }
        XCTAssertEqual(decisions.firstIndex { $0 != .continueTraining }, 39)
        XCTAssertEqual(decisions.last, .reachedMaxIterations)
        XCTAssertEqual(group.momentum!, 2e-3, accuracy: 1e-12)
    }

    // MARK: Training runs

    /// The stop statistic is fed Lcor only (paper Eq. 37): with a large λ the penalty is far from 0,
    /// yet the final statistic is the recurrence over the recorded correlation curve.
    func testStopStatisticIsFedTheCorrelationAlone() throws {
        let p = try plan([c1], variant: .separate, lambda: 10)
        let shift = try TinyErasure.train(p, model: TinyErasure.model())[0]
        let t = shift.metadata.training
        XCTAssertEqual(t.lossStride, 1)
        XCTAssertEqual(t.lossCurve.count, 12)
        let penalty = Double(SepMEObjective.l1Penalty(ofSum: [shift.weights]).item)
        XCTAssertGreaterThan(10 * penalty, 1e-3 * abs(t.lossCurve.last!), "the L1 term must matter for this test to mean anything")
        let expected = try XCTUnwrap(momentum(t.lossCurve, alpha: 0.9))
        XCTAssertEqual(try XCTUnwrap(t.finalMomentum), expected, accuracy: 1e-12 * max(1, abs(expected)))
    }

    /// Joint: every concept trains every iteration and they stop together, on one statistic over
    /// Σ η_k Lcor_k recomputed here from the recorded per-concept curves.
    func testJointVariantKeepsOneStatisticAndStopsAllConceptsTogether() throws {
        let shifts = try TinyErasure.train(plan([c1, c2], variant: .joint), model: TinyErasure.model())
        XCTAssertEqual(shifts.map(\.name), [c1, c2])
        let records = shifts.map(\.metadata.training)
        XCTAssertEqual(records.map(\.iterations), [12, 12])
        XCTAssertEqual(records.map(\.lossCurve.count), [12, 12])
        let weighted = (0..<12).map { n in SepMEObjective.weightedCorrelation(records.map { $0.lossCurve[n] }) }
        let expected = try XCTUnwrap(momentum(weighted, alpha: 0.9))
        for r in records { XCTAssertEqual(try XCTUnwrap(r.finalMomentum), expected, accuracy: 1e-12 * max(1, abs(expected))) }
        for s in shifts {
            XCTAssertTrue(s.metadata.restorable)
            XCTAssertGreaterThan(s.factors.values.map { $0.abs().sum().item }.reduce(0, +), 0)
        }
        XCTAssertEqual(shifts[0].metadata.decoupledFrom, [c2])

        // A τ the statistic reaches at once: both stop at the minimum, converged, together.
        let early = try TinyErasure.train(plan([c1, c2], variant: .joint, tau: 1e9), model: TinyErasure.model())
        XCTAssertEqual(early.map(\.metadata.training.iterations), [10, 10])
        XCTAssertEqual(early.map(\.metadata.training.stopReason), [.converged, .converged])
    }

    /// Full: the q, k, v and output weights and the output bias of every cross-attention block are
    /// trained, written, read back, and baked into the weights as the adapters apply them.
    func testFullVariantTrainsTheOutputBiasAndBakesIt() throws {
        let model = try TinyErasure.model()
        let p = try plan([c1], variant: .full, maxIterations: 10)
        var h = p.hyperparameters
        h.learningRate = 1e-3
        let shift = try TinyErasure.train(
            ErasurePlan(concepts: [c1], protectedPrompts: [], variant: .full, hyperparameters: h), model: model)[0]
        let layers = model.projections.layers
        XCTAssertEqual(Set(shift.deltas.keys).count, 4 * layers.count)
        XCTAssertEqual(Set(shift.biasDeltas.keys), Set(layers.map { $0.key + ".to_out.0" }))
        for (key, b) in shift.biasDeltas { XCTAssertGreaterThan(b.abs().sum().item, 0, "\(key) bias was trained") }

        let folder = try TinyErasure.temporaryDirectory("full")
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("full.sepme.safetensors").path
        try shift.write(to: path)
        let read = try ConceptShift.read(path: path)
        for (key, b) in shift.biasDeltas { XCTAssertEqual(read.biasDeltas[key]?.scalars, b.scalars) }

        // Adapter (x ΔWᵀ + Δb added) against fused weights on one output projection.
        let out = try XCTUnwrap(layers[0].toOut)
        var rng = TestRNG(seed: 2)
        let x = rng.tensor([3, out.inFeatures], -1, 1)
        try model.install([read])
        let adapted = GradMode.withNoGrad { out(x) }
        model.fuse()
        let fused = GradMode.withNoGrad { out(x) }
        XCTAssertLessThan(zip(adapted.scalars, fused.scalars).map { abs($0 - $1) }.max()!, 1e-5)
    }
}
