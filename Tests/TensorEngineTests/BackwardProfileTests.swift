import TensorEngine
import TestSupport
import XCTest

/// `Tensor.profilingBackward`: every rule a backward pass runs inside the scope is counted once, under
/// its operation and gradient shape; outside the scope nothing is recorded, and the gradients are
/// those of an unprofiled pass.
final class BackwardProfileTests: XCTestCase {
    private func loss(_ x: Tensor, _ w: Tensor) -> Tensor {
        // Two linear layers (gradients [4, 5] and [4, 3]), a reshape, then the mean of squares.
        let h = Tensor.linear(x, weight: w)
        let y = Tensor.linear(h, weight: Tensor.matmul(w, w.mT).sliced(axis: 0, 0..<3))
        return y.reshaped([12]).square().mean()
    }

    func testCountsEachRuleUnderItsOperationAndShape() {
        var rng = TestRNG(seed: 3)
        let x = rng.tensor([4, 6])
        let w = rng.tensor([5, 6])
        w.requiresGrad = true
        loss(x, w).backward()
        let plain = w.grad!.scalars
        w.grad = nil

        let (_, profile) = Tensor.profilingBackward { loss(x, w).backward() }
        XCTAssertEqual(w.grad!.scalars, plain, "profiling changed the gradient")
        let linear = profile.entries.filter { $0.operation == "linear" }
        XCTAssertEqual(Set(linear.map(\.gradientShape)), [[4, 5], [4, 3]])
        XCTAssertEqual(linear.map(\.calls), [1, 1])
        XCTAssertEqual(profile.byOperation.first { $0.operation == "linear" }?.calls, 2)
        XCTAssertEqual(profile.entries.first { $0.operation == "reshape" }?.gradientShape, [12])
        XCTAssertEqual(profile.entries.first { $0.operation == "matmul" }?.gradientShape, [5, 5])
        XCTAssertTrue(profile.entries.allSatisfy { $0.seconds >= 0 && $0.calls == 1 })
        XCTAssertEqual(profile.totalSeconds, profile.entries.reduce(0) { $0 + $1.seconds }, accuracy: 1e-12)
        XCTAssertEqual(
            profile.entries.map(\.seconds), profile.entries.map(\.seconds).sorted(by: >), "entries not slowest first")

        // Outside the scope: an empty profile for a body without a backward pass.
        w.grad = nil
        loss(x, w).backward()
        let (_, empty) = Tensor.profilingBackward { _ = loss(x, w) }
        XCTAssertTrue(empty.entries.isEmpty)
    }
}
