/// An optional report field written as `null` when it has no value, never left out, so that every
/// object of a report has every key (a reader can tell "not measured" from "not in this version").
/// Synthesised `Codable` leaves nil optionals out; wrapping the property keeps the synthesised
/// conformance and changes only that. A missing key still decodes as nil, so files written before
/// a field existed stay readable.
@propertyWrapper
public struct NullWhenAbsent<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A `NullWhenAbsent` field whose key is missing reads as nil.
    public func decode<Value>(_ type: NullWhenAbsent<Value>.Type, forKey key: Key) throws -> NullWhenAbsent<Value> {
        try decodeIfPresent(type, forKey: key) ?? NullWhenAbsent(wrappedValue: nil)
    }
}
