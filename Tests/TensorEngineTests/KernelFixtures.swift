import Foundation
import TensorEngine
import XCTest

/// Reads the conv2d / SDPA reference cases written by scripts/make_kernel_fixtures.py
/// (Resources/kernels/index.json plus raw little-endian float32 files).
struct KernelFixtures {
    struct Case {
        let name: String
        let entry: [String: Any]
        let tensors: [String: Tensor]

        /// The tensor stored under the entry's key (e.g. "x", "weight", "out").
        func tensor(_ key: String) throws -> Tensor {
            guard let fileKey = entry[key] as? String, let t = tensors[fileKey] else {
                throw FixtureError("case \(name): no tensor for key '\(key)'")
            }
            return t
        }

        func ints(_ key: String) throws -> [Int] {
            guard let v = entry[key] as? [Int] else { throw FixtureError("case \(name): '\(key)' is not an int list") }
            return v
        }
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    let cases: [Case]

    init() throws {
        guard let root = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw FixtureError("test bundle has no Resources folder")
        }
        let dir = root.appendingPathComponent("kernels")
        let indexURL = dir.appendingPathComponent("index.json")
        guard let index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any],
            let list = index["cases"] as? [[String: Any]]
        else {
            throw FixtureError("\(indexURL.path): expected an object with a 'cases' list")
        }
        cases = try list.map { entry in
            guard let name = entry["name"] as? String, let files = entry["files"] as? [String: [String: Any]] else {
                throw FixtureError("\(indexURL.path): case without 'name' or 'files'")
            }
            var tensors: [String: Tensor] = [:]
            for (key, info) in files {
                guard let file = info["file"] as? String, let shape = info["shape"] as? [Int] else {
                    throw FixtureError("\(indexURL.path): case \(name) file '\(key)' lacks 'file' or 'shape'")
                }
                let data = try Data(contentsOf: dir.appendingPathComponent(file))
                let n = shape.reduce(1, *)
                guard data.count == n * 4 else {
                    throw FixtureError("\(file): \(data.count) bytes, expected \(n * 4) for shape \(shape)")
                }
                let values = data.withUnsafeBytes { raw in
                    (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                }
                tensors[key] = Tensor(values, shape: shape)
            }
            return Case(name: name, entry: entry, tensors: tensors)
        }
    }

    func cases(op: String) -> [Case] { cases.filter { $0.entry["op"] as? String == op } }
}
