import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// Module reflection gives checkpoint keys; strict loading reports every kind of mismatch by key.
final class ModuleLoadingTests: XCTestCase {
    final class Block: Module {
        let norm1 = LayerNorm(4)
        let to_out: [Module] = [Linear(4, 3), Identity()]
        let proj: Linear? = nil
    }

    final class Model: Module {
        let blocks: [Module] = [Block(), Block()]
        let conv_in = Conv2d(2, 4, kernelSize: 3, padding: 1)
        let scale = Tensor(zeros: [1])
        override var ignoredCheckpointKeys: [String] { ["position_ids"] }
    }

    func testParameterKeysFollowPropertyPaths() {
        let keys = Model().namedParameters().map(\.0)
        XCTAssertEqual(
            keys,
            [
                "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.to_out.0.weight", "blocks.0.to_out.0.bias",
                "blocks.1.norm1.weight", "blocks.1.norm1.bias", "blocks.1.to_out.0.weight", "blocks.1.to_out.0.bias",
                "conv_in.weight", "conv_in.bias", "scale"
            ])
    }

    private func write(_ tensors: [String: [Int]], extra: [String: [Int]] = [:]) throws -> String {
        var w = SafeTensorsWriter()
        var rng = TestRNG(seed: 3)
        for (k, shape) in tensors.merging(extra, uniquingKeysWith: { $1 }) {
            try w.add(k, shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in rng.uniform() })
        }
        let path = NSTemporaryDirectory() + "sepme-loading-\(UUID().uuidString).safetensors"
        try w.write(to: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private var fullShapes: [String: [Int]] {
        Dictionary(uniqueKeysWithValues: Model().namedParameters().map { ($0.0, $0.1.shape) })
    }

    func testStrictLoadCopiesEveryWeight() throws {
        let path = try write(fullShapes, extra: ["position_ids": [1, 7]])
        let model = Model()
        try model.load(from: TensorSource(path: path))
        let file = try SafeTensorsFile(path: path)
        for (key, p) in model.namedParameters() { XCTAssertEqual(p.scalars, try file.floats(key), key) }
    }

    func testMissingUnexpectedAndMisshapedKeysAreNamed() throws {
        var shapes = fullShapes
        shapes.removeValue(forKey: "conv_in.bias")
        XCTAssertThrowsError(try Model().load(from: TensorSource(path: try write(shapes)))) { e in
            XCTAssertEqual(e as? WeightLoadingError, .missingKeys(["conv_in.bias"], source: (e as! WeightLoadingError).sourceName))
            XCTAssertTrue("\(e)".contains("conv_in.bias"))
        }
        XCTAssertThrowsError(try Model().load(from: TensorSource(path: try write(fullShapes, extra: ["blocks.2.norm1.weight": [4]])))) { e in
            XCTAssertTrue("\(e)".contains("unexpected") && "\(e)".contains("blocks.2.norm1.weight"), "\(e)")
        }
        shapes = fullShapes
        shapes["blocks.1.to_out.0.weight"] = [3, 5]
        XCTAssertThrowsError(try Model().load(from: TensorSource(path: try write(shapes)))) { e in
            XCTAssertTrue("\(e)".contains("blocks.1.to_out.0.weight") && "\(e)".contains("[3, 5]"), "\(e)")
        }
    }

    func testFailedLoadWritesNothing() throws {
        var shapes = fullShapes
        shapes["scale"] = [2]
        let model = Model()
        XCTAssertThrowsError(try model.load(from: TensorSource(path: try write(shapes))))
        XCTAssertTrue(model.parameters().allSatisfy { p in p.scalars.allSatisfy { $0 == 0 || $0 == 1 } })
    }

    /// Parameters load concurrently: with non-finite values in several, the error names the first of
    /// them in parameter order (as a load one parameter after another would), and the finite ones hold
    /// the file's values.
    func testNonFiniteValuesNameTheFirstParameterInOrder() throws {
        var w = SafeTensorsWriter()
        var rng = TestRNG(seed: 5)
        let bad: [String: (Int, Float)] = ["blocks.1.to_out.0.weight": (7, .infinity), "conv_in.weight": (2, .nan), "scale": (0, -.infinity)]
        for (key, shape) in fullShapes {
            var values = (0..<shape.reduce(1, *)).map { _ in rng.uniform() }
            if let (index, value) = bad[key] { values[index] = value }
            try w.add(key, shape: shape, floats: values, dtype: key == "conv_in.weight" ? .f16 : .f32)
        }
        let path = NSTemporaryDirectory() + "sepme-loading-\(UUID().uuidString).safetensors"
        try w.write(to: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        for _ in 0..<20 {
            let model = Model()
            XCTAssertThrowsError(try model.load(from: TensorSource(path: path))) { e in
                guard case .nonFiniteValue(let key, let index, let value, _)? = e as? WeightLoadingError else { return XCTFail("\(e)") }
                XCTAssertEqual(key, "blocks.1.to_out.0.weight")
                XCTAssertEqual(index, 7)
                XCTAssertEqual(value, .infinity)
            }
            let file = try SafeTensorsFile(path: path)
            for (key, p) in model.namedParameters() where bad[key] == nil { XCTAssertEqual(p.scalars, try file.floats(key), key) }
        }
    }
}
