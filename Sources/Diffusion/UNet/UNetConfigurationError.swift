/// Why a diffusers unet `config.json` cannot be used. Every message names the file and the field.
public enum UNetConfigurationError: Error, CustomStringConvertible, Equatable {
    /// The file is missing, unreadable or not valid JSON of the expected field types.
    case unreadable(path: String, reason: String)
    /// A field holds a value this implementation does not support (e.g. another block type).
    case unsupported(path: String, field: String, value: String, supported: String)
    /// A field is inconsistent with itself or with another field (list lengths, divisibility).
    case invalid(path: String, field: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the unet configuration: \(reason)"
        case .unsupported(let path, let field, let value, let supported):
            return "\(path): field '\(field)' = \(value) is not supported (supported: \(supported))"
        case .invalid(let path, let field, let reason):
            return "\(path): field '\(field)' is invalid: \(reason)"
        }
    }
}

/// A config value that diffusers accepts either once for all blocks or as one value per block
/// (`layers_per_block: 2` or `layers_per_block: [1, 2, 2]`).
public enum OneOrMany<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    case one(Value)
    case many([Value])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Value.self) {
            self = .one(v)
            return
        }
        self = .many(try c.decode([Value].self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .one(let v): try c.encode(v)
        case .many(let vs): try c.encode(vs)
        }
    }

    /// One value per block, or nil when a list has the wrong length.
    public func values(count: Int) -> [Value]? {
        switch self {
        case .one(let v): return Array(repeating: v, count: count)
        case .many(let vs): return vs.count == count ? vs : nil
        }
    }

    /// All values (the single value once).
    public var all: [Value] {
        switch self {
        case .one(let v): return [v]
        case .many(let vs): return vs
        }
    }
}

/// Any JSON value, used to check config fields this implementation does not model against their
/// diffusers defaults.
public enum JSONValue: Codable, Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return "\"\(s)\""
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { "\"\($0)\": \(o[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}
