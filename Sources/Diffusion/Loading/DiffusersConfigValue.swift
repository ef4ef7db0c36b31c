/// A string-valued option of a diffusers `config.json` / `scheduler_config.json` as an enum whose raw
/// values are diffusers' exact spellings. Decoding accepts exactly those and refuses any other value
/// with a `DecodingError` at its key listing the accepted ones (the loaders report it with the file);
/// encoding writes the spelling. `SchedulerOption` and `DiffusersBlockType` refine it.
public protocol DiffusersConfigValue: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension DiffusersConfigValue {
    /// "A, B": the accepted spellings, for messages.
    public static var acceptedValues: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = Self(rawValue: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(name)' is not one of \(Self.acceptedValues)")
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
