import TensorEngine
import TestSupport
import XCTest

/// Adam and SGD follow torch.optim step for step (fixture: scripts/make_optimizer_fixtures.py),
/// within 1e-6 relative after five steps with gradients of very different scales.
final class OptimizerTests: XCTestCase {
    static let fixture = try! FixtureFile(resource: "optimizers", bundle: .module)

    private func trajectory(_ name: String, _ make: (Tensor) -> Optimizer) throws {
        let p = try Self.fixture.tensor("p0")
        p.requiresGrad = true
        let opt = make(p)
        for k in 0..<5 {
            p.grad = try Self.fixture.tensor("g\(k)")
            opt.update()
            assertClose(p, try Self.fixture.tensor("\(name).p\(k)"), rtol: 1e-6, "\(name) step \(k + 1)")
        }
    }

    func testAdamMatchesTorch() throws {
        try trajectory("adam") { Adam(parameters: [$0], learningRate: 0.1) }
        try trajectory("adam_wd") { Adam(parameters: [$0], learningRate: 1e-2, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05) }
    }

    func testSGDMatchesTorch() throws {
        try trajectory("sgd") { SGD(parameters: [$0], learningRate: 0.1) }
        try trajectory("sgd_momentum") { SGD(parameters: [$0], learningRate: 0.05, momentum: 0.9, weightDecay: 0.01) }
    }

    func testAdamStateRoundTrip() throws {
        let p = try Self.fixture.tensor("p0")
        let a = Adam(parameters: [p], learningRate: 0.1)
        p.grad = try Self.fixture.tensor("g0")
        a.update()
        let (step, m, v) = a.state
        let q = try Self.fixture.tensor("p0")
        q.assign(from: p)
        let b = Adam(parameters: [q], learningRate: 0.1)
        try b.restore(step: step, m: m, v: v)
        p.grad = try Self.fixture.tensor("g1")
        q.grad = try Self.fixture.tensor("g1")
        a.update()
        b.update()
        XCTAssertEqual(p.scalars, q.scalars)
        XCTAssertThrowsError(try b.restore(step: 1, m: [], v: []))
    }
}
