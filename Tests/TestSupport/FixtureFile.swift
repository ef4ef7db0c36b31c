import Foundation
import SafeTensors
import TensorEngine

/// A safetensors fixture committed under a test target's Resources, read as Float32 tensors.
public final class FixtureFile: Sendable {
    public let file: SafeTensorsFile

    public init(path: String) throws { file = try SafeTensorsFile(path: path) }

    /// `Resources/<name>.safetensors` (or a subdirectory path) of `bundle`.
    public convenience init(resource name: String, subdirectory: String? = nil, bundle: Bundle) throws {
        let dir = subdirectory.map { "Resources/" + $0 } ?? "Resources"
        guard let url = bundle.url(forResource: name, withExtension: "safetensors", subdirectory: dir) else {
            throw SafeTensorsError.fileNotFound(path: "\(dir)/\(name).safetensors in \(bundle.bundlePath)")
        }
        try self.init(path: url.path)
    }

    public func has(_ key: String) -> Bool { file.keys.contains(key) }

    public func tensor(_ key: String) throws -> Tensor {
        let info = try file.info(key)
        return Tensor(try file.floats(key), shape: info.shape)
    }

    public var metadata: [String: String] { file.metadata }
}
