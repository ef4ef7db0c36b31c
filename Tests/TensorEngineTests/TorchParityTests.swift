import Foundation
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// Forward outputs and input gradients of the engine's ops against PyTorch
/// (fixture: scripts/make_engine_fixtures.py -> Resources/engine_ops.safetensors).
/// Tolerance: max abs error <= 1e-5 × max |reference| (+1e-6 absolute for near-zero gradients).
final class TorchParityTests: XCTestCase {
    static let fixture: FixtureFile = try! FixtureFile(resource: "engine_ops", bundle: .module)

    private func check(
        _ name: String, _ f: ([Tensor]) -> Tensor, rtol: Float = 1e-5,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let fx = Self.fixture
        var inputs: [Tensor] = []
        while fx.has("\(name).in\(inputs.count)") { inputs.append(try fx.tensor("\(name).in\(inputs.count)")) }
        for t in inputs { t.requiresGrad = true }
        let out = f(inputs)
        assertClose(out, try fx.tensor("\(name).out"), rtol: rtol, atol: 1e-6, "\(name) forward", file: file, line: line)
        (out * (try fx.tensor("\(name).proj"))).sum().backward()
        for (i, t) in inputs.enumerated() {
            guard let g = t.grad else {
                XCTFail("\(name): no gradient for input \(i)", file: file, line: line)
                continue
            }
            assertClose(g, try fx.tensor("\(name).grad\(i)"), rtol: rtol, atol: 1e-6, "\(name) grad\(i)", file: file, line: line)
        }
    }

    func testElementwise() throws {
        try check("add_broadcast") { $0[0] + $0[1] }
        try check("mul_channel") { $0[0] * $0[1] }
        try check("div") { $0[0] / $0[1] }
        try check("exp") { $0[0].exp() }
        try check("log") { $0[0].log() }
        try check("sqrt") { $0[0].sqrt() }
        try check("pow3") { $0[0].pow(3) }
    }

    func testActivations() throws {
        try check("silu") { $0[0].silu() }
        try check("gelu") { $0[0].gelu() }
        try check("gelu_tanh") { $0[0].geluTanh() }
        try check("quick_gelu") { $0[0].quickGelu() }
        try check("sigmoid") { $0[0].sigmoid() }
        try check("tanh") { $0[0].tanh() }
    }

    func testReductionsAndMovement() throws {
        try check("sum_axes") { $0[0].sum(axes: [0, 2]) }
        try check("mean_all") { $0[0].mean() }
        try check("var_axis") { $0[0].variance(axes: [1], keepDims: true) }
        try check("permute") { $0[0].permuted([0, 2, 3, 1]) }
        try check("concat") { Tensor.concat($0, axis: 1) }
        try check("slice") { $0[0].sliced(axis: 1, 1..<3) }
        try check("upsample") { $0[0].upsampleNearest2x() }
        let indices = try Self.fixture.tensor("embedding.indices").scalars.map { Int($0) }
        try check("embedding") { Tensor.embedding($0[0], indices: indices, indexShape: [2, 3]) }
    }

    func testMatmulAndNorms() throws {
        try check("matmul_batched") { Tensor.matmul($0[0], $0[1]) }
        try check("matmul_broadcast") { Tensor.matmul($0[0], $0[1]) }
        try check("linear") { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        try check("softmax") { $0[0].softmax() }
        try check("layer_norm") { Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-5) }
        try check("group_norm") { Tensor.groupNorm($0[0], groups: 4, weight: $0[1], bias: $0[2], eps: 1e-6) }
        try check("group_norm_32") { Tensor.groupNorm($0[0], groups: 32, weight: $0[1], bias: $0[2], eps: 1e-5) }
    }
}
