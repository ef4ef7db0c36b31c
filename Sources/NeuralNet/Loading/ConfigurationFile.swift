import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A model configuration file (`config.json`, `scheduler_config.json`, tokenizer JSON), read safely and
/// checked field by field before a `Decodable` configuration sees it, so that a wrong type, a
/// non-integral count or an absurd size is reported as "field: expected ..., got ..." with the file.
///
/// Reading refuses anything but a regular file (a FIFO would block `open`) and files larger than
/// `maximumSize`; the loaders in CLIP and Diffusion wrap a `ConfigurationFileError` into their own
/// error types.
public struct ConfigurationFile {
    /// Largest configuration file read: 256 MiB. CLIP's `tokenizer.json` is about 3.6 MB and every
    /// `config.json` a few kB; anything far larger is not a configuration.
    public static let maximumSize = 256 << 20

    public let path: String
    public let data: Data
    /// The top-level JSON object.
    public let object: [String: Any]

    /// Reads `url` and parses it as a JSON object.
    public init(url: URL) throws {
        try self.init(path: url.path, data: Self.readRegularFile(url, limit: Self.maximumSize))
    }

    /// Parses `data`, read from `path` (a loader that rewrites the bytes first, such as the scheduler
    /// configuration's Python literals), as a JSON object.
    public init(path: String, data: Data) throws {
        self.path = path
        self.data = data
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw ConfigurationFileError.invalidJSON(path: path, reason: "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw ConfigurationFileError.invalidJSON(path: path, reason: "expected a JSON object at the top level, found \(Self.describe(parsed))")
        }
        self.object = object
    }

    /// The bytes of a regular file of at most `limit` bytes. A FIFO, device or folder is refused by
    /// `stat` before it is opened, so reading never blocks on a pipe with no writer.
    public static func readRegularFile(_ url: URL, limit: Int) throws -> Data {
        var status = stat()
        guard stat(url.path, &status) == 0 else {
            let code = errno
            if code == ENOENT { throw ConfigurationFileError.notFound(path: url.path) }
            throw ConfigurationFileError.unreadable(path: url.path, reason: String(cString: strerror(code)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw ConfigurationFileError.unreadable(path: url.path, reason: "not a regular file")
        }
        guard Int(status.st_size) <= limit else {
            throw ConfigurationFileError.unreadable(
                path: url.path, reason: "\(status.st_size) bytes, more than the \(limit) a configuration file may have")
        }
        let descriptor = open(url.path, O_RDONLY | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw ConfigurationFileError.unreadable(path: url.path, reason: String(cString: strerror(errno)))
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw ConfigurationFileError.unreadable(path: url.path, reason: "read failed")
        }
    }

    /// Checks the raw JSON types of the listed fields (absent and null fields pass): each integer
    /// field must hold an integer (or a list of integers) inside its range, each number field a finite
    /// number. Throws `ConfigurationFileError.invalidField` naming the first offending field.
    public func check(
        integers: [String: ClosedRange<Int>] = [:], numbers: [String] = [], strings: [String] = [],
        booleans: [String] = []
    ) throws {
        for key in integers.keys.sorted() {
            guard let value = object[key], !(value is NSNull) else { continue }
            let range = integers[key]!
            if let list = value as? [Any] {
                for (i, item) in list.enumerated() { try checkInteger(item, field: "\(key)[\(i)]", range: range) }
            } else {
                try checkInteger(value, field: key, range: range)
            }
        }
        for key in numbers.sorted() {
            guard let value = object[key], !(value is NSNull) else { continue }
            guard let number = value as? NSNumber, !Self.isBoolean(number) else {
                throw invalid(key, "expected a number, got \(Self.describe(value))")
            }
            guard number.doubleValue.isFinite else { throw invalid(key, "expected a finite number, got \(number)") }
        }
        for key in strings.sorted() {
            guard let value = object[key], !(value is NSNull) else { continue }
            guard value is String else { throw invalid(key, "expected a string, got \(Self.describe(value))") }
        }
        for key in booleans.sorted() {
            guard let value = object[key], !(value is NSNull) else { continue }
            guard let number = value as? NSNumber, Self.isBoolean(number) else {
                throw invalid(key, "expected true or false, got \(Self.describe(value))")
            }
        }
    }

    private func checkInteger(_ value: Any, field: String, range: ClosedRange<Int>) throws {
        guard let number = value as? NSNumber, !Self.isBoolean(number) else {
            throw invalid(field, "expected an integer, got \(Self.describe(value))")
        }
        let double = number.doubleValue
        guard double.isFinite, double == double.rounded() else {
            throw invalid(field, "expected an integer, got \(Self.describe(value))")
        }
        guard abs(double) < 9.2e18 else {
            throw invalid(field, "\(Self.describe(value)) is outside the allowed range \(range.lowerBound)...\(range.upperBound)")
        }
        let int = abs(double) < 9e15 ? Int(double) : Int(number.int64Value)
        guard range.contains(int) else {
            throw invalid(field, "\(int) is outside the allowed range \(range.lowerBound)...\(range.upperBound)")
        }
    }

    private func invalid(_ field: String, _ reason: String) -> ConfigurationFileError {
        .invalidField(path: path, field: field, reason: reason)
    }

    /// A `DecodingError` from decoding `data` as a `ConfigurationFileError` naming the field.
    public func explain(_ error: Error) -> ConfigurationFileError {
        guard let error = error as? DecodingError else {
            if let own = error as? ConfigurationFileError { return own }
            return .invalidJSON(path: path, reason: "\(error)")
        }
        func field(_ codingPath: [CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return .invalidField(
                path: path, field: field(context.codingPath),
                reason: "expected \(Self.describe(type: type)), got \(rawDescription(context.codingPath))")
        case .valueNotFound(let type, let context):
            return .invalidField(path: path, field: field(context.codingPath), reason: "expected \(Self.describe(type: type)), got null")
        case .keyNotFound(let key, let context):
            return .invalidField(path: path, field: field(context.codingPath + [key]), reason: "missing")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return .invalidJSON(path: path, reason: "a value has a type or size the configuration cannot hold (\(context.debugDescription))")
            }
            return .invalidField(path: path, field: field(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return .invalidJSON(path: path, reason: "\(error)")
        }
    }

    /// The raw JSON value at `codingPath`, described for a message.
    private func rawDescription(_ codingPath: [CodingKey]) -> String {
        var current: Any? = object
        for key in codingPath {
            if let index = key.intValue, let list = current as? [Any] {
                current = index < list.count ? list[index] : nil
            } else {
                current = (current as? [String: Any])?[key.stringValue]
            }
        }
        return current.map(Self.describe) ?? "nothing"
    }

    /// JSONSerialization's `true`/`false` are NSNumber subclasses (`__NSCFBoolean`) on Darwin and Linux.
    static func isBoolean(_ number: NSNumber) -> Bool {
        String(describing: type(of: number)).contains("Boolean")
    }

    /// Whether a number parsed by JSONSerialization was `true` or `false`.
    public static func isBooleanValue(_ number: NSNumber) -> Bool { isBoolean(number) }

    /// A JSON value for a message: numbers and booleans as written, strings quoted and shortened.
    public static func describe(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let number as NSNumber:
            if isBoolean(number) { return number.boolValue ? "true" : "false" }
            let d = number.doubleValue
            if d == d.rounded(), abs(d) < 1e18, let i = Int(exactly: d) { return String(i) }
            return "\(d)"
        case let string as String:
            let short = string.count > 40 ? String(string.prefix(40)) + "..." : string
            return "\"\(short.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined())\""
        case let list as [Any]: return "a list of \(list.count)"
        case is [String: Any]: return "an object"
        default: return "\(value)"
        }
    }

    static func describe(type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }
}

/// Why a configuration file cannot be used; every message names the file and, where there is one,
/// the field with what was expected and what was found.
public enum ConfigurationFileError: Error, CustomStringConvertible, Equatable {
    case notFound(path: String)
    case unreadable(path: String, reason: String)
    case invalidJSON(path: String, reason: String)
    case invalidField(path: String, field: String, reason: String)

    public var path: String {
        switch self {
        case .notFound(let p), .unreadable(let p, _), .invalidJSON(let p, _), .invalidField(let p, _, _): return p
        }
    }

    /// "field: reason" (or the reason alone), without the path.
    public var detail: String {
        switch self {
        case .notFound: return "file not found"
        case .unreadable(_, let r): return "cannot be read: \(r)"
        case .invalidJSON(_, let r): return r
        case .invalidField(_, let f, let r): return "\(f): \(r)"
        }
    }

    public var description: String { "\(path): \(detail)" }
}
