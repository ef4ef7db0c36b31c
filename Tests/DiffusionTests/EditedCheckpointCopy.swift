import Foundation
import SafeTensors
import XCTest

extension XCTestCase {
    /// A temporary copy of the safetensors file at `source` (nil: start from no tensor at all)
    /// without the `removed` keys and with `added` float32 tensors of 0.5 everywhere; deleted when
    /// the test ends. For checkpoints with a key too many, too few or of an unknown family.
    func editedCopy(of source: String?, removing removed: Set<String> = [], adding added: [String: [Int]] = [:]) throws -> String {
        var writer = SafeTensorsWriter()
        if let source {
            let file = try SafeTensorsFile(path: source)
            for key in file.keys where !removed.contains(key) {
                let info = try file.info(key)
                if info.dtype.isInteger {
                    try writer.add(key, shape: info.shape, int64s: try file.int64s(key))
                } else {
                    try writer.add(key, shape: info.shape, floats: try file.floats(key))
                }
            }
        }
        for (key, shape) in added { try writer.add(key, shape: shape, floats: [Float](repeating: 0.5, count: shape.reduce(1, *))) }
        let path = NSTemporaryDirectory() + "sepme-edited-checkpoint-\(UUID().uuidString).safetensors"
        try writer.write(to: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}
