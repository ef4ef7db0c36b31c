import Foundation

/// Every way reading or writing a safetensors file can fail. Each message names the file (or the
/// tensor, for writer input errors), the key where relevant, and what was expected versus found.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    // MARK: Reading: the file itself
    /// No file exists at `path`.
    case fileNotFound(path: String)
    /// The file exists but could not be opened, inspected or mapped.
    case unreadableFile(path: String, reason: String)
    /// The file is shorter than the 8-byte header-length prefix.
    case truncatedFile(path: String, fileSize: Int)
    /// The header-length prefix exceeds `limit` bytes.
    case headerTooLarge(path: String, headerLength: UInt64, limit: Int)
    /// The header-length prefix points past the end of the file.
    case headerLengthPastEnd(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not UTF-8 JSON whose top level is an object.
    case invalidJSON(path: String, reason: String)

    // MARK: Reading: header entries
    /// A header entry is missing a field or has a field of the wrong type or value.
    case invalidEntry(path: String, key: String, reason: String)
    /// A header entry names a dtype this reader does not know.
    case unknownDType(path: String, key: String, dtype: String)
    /// `dtype size × product(shape)` differs from the byte length given by `data_offsets`.
    case shapeByteMismatch(path: String, key: String, dtype: String, shape: [Int], expectedBytes: Int, foundBytes: Int)
    /// `data_offsets` is decreasing or reaches past the data section.
    case offsetsOutOfRange(path: String, key: String, offsets: [Int], dataSectionSize: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingOffsets(path: String, key: String, otherKey: String)

    // MARK: Reading: access
    /// No tensor with this name exists in the file.
    case keyNotFound(path: String, key: String)
    /// The tensor's dtype cannot be converted to the requested element type.
    case unsupportedConversion(path: String, key: String, dtype: String, target: String)
    /// The destination given to `copyFloats` has a different element count than the tensor.
    case elementCountMismatch(path: String, key: String, expected: Int, found: Int)

    // MARK: Writing
    /// A tensor with this name was already added to the writer.
    case duplicateName(name: String)
    /// The number of values given does not equal the product of the shape (or the shape is negative).
    case invalidShape(name: String, shape: [Int], valueCount: Int)
    /// This writer cannot encode values of the given kind in the requested dtype.
    case unsupportedWriteDType(name: String, dtype: String, source: String)
    /// Creating, writing or renaming the output file failed; nothing was left at `path`.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return "safetensors file '\(path)' not found"
        case let .unreadableFile(path, reason):
            return "safetensors file '\(path)' could not be read: \(reason)"
        case let .truncatedFile(path, size):
            return "safetensors file '\(path)' is truncated: expected at least 8 bytes (header length), found \(size)"
        case let .headerTooLarge(path, length, limit):
            return "safetensors file '\(path)': header length \(length) exceeds the limit of \(limit) bytes"
        case let .headerLengthPastEnd(path, length, size):
            return "safetensors file '\(path)': header length \(length) reaches past the end of the file "
                + "(expected 8 + \(length) <= file size \(size))"
        case let .invalidJSON(path, reason):
            return "safetensors file '\(path)': header is not a valid JSON object: \(reason)"
        case let .invalidEntry(path, key, reason):
            return "safetensors file '\(path)', key '\(key)': invalid header entry: \(reason)"
        case let .unknownDType(path, key, dtype):
            let known = SafeTensorDType.allCases.map(\.rawValue).joined(separator: ", ")
            return "safetensors file '\(path)', key '\(key)': unknown dtype '\(dtype)' (expected one of \(known))"
        case let .shapeByteMismatch(path, key, dtype, shape, expected, found):
            return "safetensors file '\(path)', key '\(key)': dtype \(dtype) with shape \(shape) needs "
                + "\(expected) bytes, but data_offsets span \(found) bytes"
        case let .offsetsOutOfRange(path, key, offsets, dataSize):
            return "safetensors file '\(path)', key '\(key)': data_offsets \(offsets) out of range "
                + "(expected begin <= end <= data section size \(dataSize))"
        case let .overlappingOffsets(path, key, otherKey):
            return "safetensors file '\(path)': byte ranges of keys '\(otherKey)' and '\(key)' overlap"
        case let .keyNotFound(path, key):
            return "safetensors file '\(path)': no tensor named '\(key)'"
        case let .unsupportedConversion(path, key, dtype, target):
            return "safetensors file '\(path)', key '\(key)': cannot convert dtype \(dtype) to \(target)"
        case let .elementCountMismatch(path, key, expected, found):
            return "safetensors file '\(path)', key '\(key)': tensor has \(expected) elements, destination has \(found)"
        case let .duplicateName(name):
            return "safetensors writer: tensor '\(name)' was already added"
        case let .invalidShape(name, shape, count):
            return "safetensors writer: tensor '\(name)' has shape \(shape) but \(count) values were given "
                + "(expected non-negative dimensions whose product is the value count)"
        case let .unsupportedWriteDType(name, dtype, source):
            return "safetensors writer: tensor '\(name)': cannot store \(source) values as dtype \(dtype)"
        case let .writeFailed(path, reason):
            return "safetensors writer: could not write '\(path)': \(reason)"
        }
    }
}
