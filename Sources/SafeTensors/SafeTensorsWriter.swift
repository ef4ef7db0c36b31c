import FileOutput
import Foundation

/// Builds a safetensors file in memory and writes it atomically.
///
/// Layout matches the reference writer (huggingface/safetensors `serialize`): compact JSON header with
/// `__metadata__` first, tensors ordered by dtype (the crate's `Dtype` order, descending) then by name,
/// data contiguous in that order, header padded with spaces to a multiple of 8 bytes. For the same
/// tensors and at most one metadata entry the bytes equal `safetensors.torch.save_file`'s.
public struct SafeTensorsWriter {
    private struct PendingTensor {
        let name: String
        let dtype: SafeTensorDType
        let shape: [Int]
        let bytes: [UInt8]
    }

    private var pending: [PendingTensor] = []
    private var names: Set<String> = []

    public init() {}

    /// Names added so far, in insertion order.
    public var tensorNames: [String] { pending.map(\.name) }

    /// Adds a float tensor stored as `dtype` (`.f32`, `.f16` or `.bf16`; the 16-bit types round to
    /// nearest even like torch's `.half()` / `.bfloat16()`).
    public mutating func add(_ name: String, shape: [Int], floats: [Float], dtype: SafeTensorDType = .f32) throws {
        try floats.withUnsafeBufferPointer { try add(name, shape: shape, floats: $0, dtype: dtype) }
    }

    /// Adds a float tensor from caller memory (e.g. a tensor's storage), converted immediately.
    public mutating func add(
        _ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>,
        dtype: SafeTensorDType = .f32
    ) throws {
        guard [.f32, .f16, .bf16].contains(dtype) else {
            throw SafeTensorsError.unsupportedWriteDType(name: name, dtype: dtype.rawValue, source: "Float")
        }
        try checkNew(name, shape: shape, valueCount: floats.count)
        var bytes = [UInt8](repeating: 0, count: floats.count * dtype.byteSize)
        bytes.withUnsafeMutableBytes { raw in
            switch dtype {
            case .f32:
                for (i, value) in floats.enumerated() {
                    raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            case .f16:
                for (i, value) in floats.enumerated() {
                    raw.storeBytes(of: HalfPrecision.halfBits(from: value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            case .bf16:
                for (i, value) in floats.enumerated() {
                    raw.storeBytes(of: HalfPrecision.bfloat16Bits(from: value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            default:
                break
            }
        }
        appendChecked(name, dtype: dtype, shape: shape, bytes: bytes)
    }

    /// Adds an I64 tensor (e.g. token ids or position ids).
    public mutating func add(_ name: String, shape: [Int], int64s: [Int64]) throws {
        try checkNew(name, shape: shape, valueCount: int64s.count)
        var bytes = [UInt8](repeating: 0, count: int64s.count * 8)
        bytes.withUnsafeMutableBytes { raw in
            for (i, value) in int64s.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: 8 * i, as: Int64.self)
            }
        }
        appendChecked(name, dtype: .i64, shape: shape, bytes: bytes)
    }

    /// Adds a U8 tensor (e.g. 8-bit image pixels), stored as given.
    public mutating func add(_ name: String, shape: [Int], bytes: [UInt8]) throws {
        try checkNew(name, shape: shape, valueCount: bytes.count)
        appendChecked(name, dtype: .u8, shape: shape, bytes: bytes)
    }

    /// Writes the file atomically (`AtomicFile`: a temporary file in the destination's folder, fsynced and
    /// renamed over `path`). On failure nothing is left at `path` (an existing file there is untouched) and
    /// no temporary remains. Tensor data is streamed from the writer's buffers (no second copy of the
    /// whole file in memory).
    public func write(to path: String, metadata: [String: String] = [:]) throws {
        let (prefix, ordered) = layout(metadata: metadata)
        do {
            try AtomicFile.write(to: path) { sink in
                try sink.write(prefix)
                for tensor in ordered { try sink.write(tensor.bytes) }
            }
        } catch let error as AtomicFile.WriteError {
            throw SafeTensorsError.writeFailed(path: path, reason: error.reason)
        }
    }

    /// The complete file contents (8-byte length, padded JSON header, data), as `write` would store them.
    public func serialized(metadata: [String: String] = [:]) -> [UInt8] {
        let (prefix, ordered) = layout(metadata: metadata)
        return ordered.reduce(into: prefix) { $0.append(contentsOf: $1.bytes) }
    }

    /// The 8-byte length plus padded header, and the tensors in data order.
    private func layout(metadata: [String: String]) -> (prefix: [UInt8], ordered: [PendingTensor]) {
        let ordered = pending.sorted {
            $0.dtype.referenceOrderRank != $1.dtype.referenceOrderRank
                ? $0.dtype.referenceOrderRank > $1.dtype.referenceOrderRank
                : Self.utf8Less($0.name, $1.name)
        }
        var fields: [String] = []
        if !metadata.isEmpty {
            // The reference writer emits metadata in hash-map order; sorted keys keep this deterministic.
            let pairs = metadata.sorted { Self.utf8Less($0.key, $1.key) }
                .map { "\(Self.jsonString($0.key)):\(Self.jsonString($0.value))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in ordered {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append(
                "\(Self.jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
            offset += tensor.bytes.count
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        var prefix: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix.append(contentsOf: $0) }
        prefix.append(contentsOf: header)
        return (prefix, ordered)
    }

    private func checkNew(_ name: String, shape: [Int], valueCount: Int) throws {
        guard !names.contains(name), name != "__metadata__" else { throw SafeTensorsError.duplicateName(name: name) }
        var product = 1
        for dimension in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard dimension >= 0, !overflow else {
                throw SafeTensorsError.invalidShape(name: name, shape: shape, valueCount: valueCount)
            }
            product = next
        }
        guard product == valueCount else {
            throw SafeTensorsError.invalidShape(name: name, shape: shape, valueCount: valueCount)
        }
    }

    private mutating func appendChecked(_ name: String, dtype: SafeTensorDType, shape: [Int], bytes: [UInt8]) {
        names.insert(name)
        pending.append(PendingTensor(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Byte-wise (UTF-8) string order, as Rust's `String` ordering used by the reference writer.
    private static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// JSON string literal escaped like serde_json: `"` `\` and control characters only.
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            default:
                if scalar.value < 0x20 {
                    result += String(format: "\\u%04x", scalar.value)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
