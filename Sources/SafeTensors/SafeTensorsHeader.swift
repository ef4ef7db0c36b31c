import Foundation

/// Description of one tensor in a safetensors file, as validated from the header.
public struct SafeTensorInfo: Equatable, Sendable {
    /// The tensor's name (its header key).
    public let name: String
    public let dtype: SafeTensorDType
    /// Dimensions, outermost first; `[]` is a scalar.
    public let shape: [Int]
    /// Byte range inside the data section (the `data_offsets` field), relative to the section start.
    public let byteRange: Range<Int>

    /// Product of `shape` (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Parsed and validated safetensors header (the JSON after the 8-byte length prefix).
///
/// Checks follow the reference reader (huggingface/safetensors `SafeTensors::read_metadata` / `validate`):
/// known dtype, non-negative shape, `dtype size × product(shape)` equal to the byte length, offsets inside
/// the data section and not overlapping. Gaps between tensors are tolerated.
struct SafeTensorsHeader {
    /// Largest accepted header, as in the reference implementation (`MAX_HEADER_SIZE`).
    static let maximumHeaderLength = 100_000_000

    let tensors: [String: SafeTensorInfo]
    let metadata: [String: String]

    /// Parses `json` (the header bytes) for a file whose data section holds `dataSectionSize` bytes.
    init(json: Data, dataSectionSize: Int, path: String) throws {
        let document: HeaderDocument
        do {
            document = try JSONDecoder().decode(HeaderDocument.self, from: json)
        } catch let issue as EntryIssue {
            throw SafeTensorsError.invalidEntry(path: path, key: issue.key, reason: issue.reason)
        } catch {
            throw SafeTensorsError.invalidJSON(path: path, reason: Self.describe(error))
        }
        // JSONDecoder silently keeps one copy of a repeated key while the reference reader keeps the last,
        // so a repeated key is refused rather than read differently.
        let rawKeys = Self.topLevelRawKeys(json)
        if rawKeys.count != document.entries.count + (document.hasMetadata ? 1 : 0) {
            var seen: Set<String> = []
            let repeated = rawKeys.first { !seen.insert($0).inserted } ?? "(escaped duplicate)"
            throw SafeTensorsError.invalidEntry(path: path, key: repeated, reason: "key appears more than once in the header")
        }
        metadata = document.metadata
        var tensors: [String: SafeTensorInfo] = [:]
        for (key, entry) in document.entries.sorted(by: { $0.key < $1.key }) {
            tensors[key] = try Self.validate(entry, key: key, dataSectionSize: dataSectionSize, path: path)
        }
        try Self.checkNoOverlap(Array(tensors.values), path: path)
        self.tensors = tensors
    }

    private static func validate(_ entry: RawEntry, key: String, dataSectionSize: Int, path: String) throws -> SafeTensorInfo {
        guard let dtype = SafeTensorDType(rawValue: entry.dtype) else {
            throw SafeTensorsError.unknownDType(path: path, key: key, dtype: entry.dtype)
        }
        if let negative = entry.shape.first(where: { $0 < 0 }) {
            throw SafeTensorsError.invalidEntry(
                path: path, key: key,
                reason: "shape \(entry.shape) has negative dimension \(negative)")
        }
        guard entry.dataOffsets.count == 2 else {
            throw SafeTensorsError.invalidEntry(
                path: path, key: key,
                reason: "data_offsets must have 2 elements, found \(entry.dataOffsets.count)")
        }
        let begin = entry.dataOffsets[0]
        let end = entry.dataOffsets[1]
        guard begin >= 0, begin <= end, end <= dataSectionSize else {
            throw SafeTensorsError.offsetsOutOfRange(
                path: path, key: key, offsets: entry.dataOffsets,
                dataSectionSize: dataSectionSize)
        }
        var expectedBytes = dtype.byteSize
        for dimension in entry.shape {
            let (product, overflow) = expectedBytes.multipliedReportingOverflow(by: dimension)
            if overflow {
                throw SafeTensorsError.invalidEntry(
                    path: path, key: key,
                    reason: "shape \(entry.shape) has more elements than fit in memory")
            }
            expectedBytes = product
        }
        guard expectedBytes == end - begin else {
            throw SafeTensorsError.shapeByteMismatch(
                path: path, key: key, dtype: dtype.rawValue, shape: entry.shape,
                expectedBytes: expectedBytes, foundBytes: end - begin)
        }
        return SafeTensorInfo(name: key, dtype: dtype, shape: entry.shape, byteRange: begin..<end)
    }

    /// Sorted by start, each range must begin at or after the furthest end seen so far.
    /// Empty tensors occupy no bytes; they only overlap when they sit strictly inside another range.
    private static func checkNoOverlap(_ infos: [SafeTensorInfo], path: String) throws {
        let ordered = infos.sorted {
            ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name)
                < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name)
        }
        var furthestEnd = 0
        var furthestOwner: String?
        for info in ordered {
            if let owner = furthestOwner, info.byteRange.lowerBound < furthestEnd {
                throw SafeTensorsError.overlappingOffsets(path: path, key: info.name, otherKey: owner)
            }
            if info.byteRange.upperBound > furthestEnd || furthestOwner == nil {
                furthestEnd = max(furthestEnd, info.byteRange.upperBound)
                furthestOwner = info.name
            }
        }
    }

    /// The raw (still escaped) text of each key of the top-level object of already-valid JSON.
    private static func topLevelRawKeys(_ json: Data) -> [String] {
        var keys: [String] = []
        var depth = 0
        var inString = false
        var escaped = false
        var stringStart = 0
        var pendingString: String?  // last string closed at depth 1, a key if ':' follows
        let bytes = [UInt8](json)
        for (index, byte) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 1 { pendingString = String(decoding: bytes[stringStart..<index], as: UTF8.self) }
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                stringStart = index + 1
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ":"): if depth == 1, let key = pendingString { keys.append(key) }
            default: break
            }
            if byte != UInt8(ascii: "\""), !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D) {
                pendingString = nil
            }
        }
        return keys
    }

    static func describe(_ error: Error) -> String {
        guard let decodingError = error as? DecodingError else { return String(describing: error) }
        switch decodingError {
        case let .dataCorrupted(context):
            let underlying = context.underlyingError.map { " (\($0))" } ?? ""
            return context.debugDescription + underlying
        case let .typeMismatch(type, context):
            let place = context.codingPath.isEmpty ? "top level" : context.codingPath.map(\.stringValue).joined(separator: ".")
            return "expected \(type) at \(place): \(context.debugDescription)"
        case let .keyNotFound(key, _):
            return "missing field '\(key.stringValue)'"
        case let .valueNotFound(type, context):
            return "expected \(type), found null at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        @unknown default:
            return String(describing: decodingError)
        }
    }
}

/// A header problem attributable to one key, thrown from inside the decoder.
private struct EntryIssue: Error {
    let key: String
    let reason: String
}

/// One tensor entry exactly as written in the JSON.
private struct RawEntry: Decodable {
    let dtype: String
    let shape: [Int]
    let dataOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }
}

private struct AnyKey: CodingKey {
    let stringValue: String
    init(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// The whole header object: `__metadata__` (string -> string) plus one entry per tensor.
private struct HeaderDocument: Decodable {
    var entries: [String: RawEntry] = [:]
    var metadata: [String: String] = [:]
    var hasMetadata = false

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys {
            do {
                if key.stringValue == "__metadata__" {
                    metadata = try container.decode([String: String].self, forKey: key)
                    hasMetadata = true
                } else {
                    entries[key.stringValue] = try container.decode(RawEntry.self, forKey: key)
                }
            } catch {
                let expected =
                    key.stringValue == "__metadata__"
                    ? "expected an object of string values" : "expected {dtype, shape, data_offsets}"
                throw EntryIssue(
                    key: key.stringValue,
                    reason: "\(expected): \(SafeTensorsHeader.describe(error))")
            }
        }
    }
}
