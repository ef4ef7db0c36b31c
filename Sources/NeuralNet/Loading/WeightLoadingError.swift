/// Why a checkpoint does not fit a module. Messages name every offending key and the file.
public enum WeightLoadingError: Error, CustomStringConvertible, Equatable {
    /// Keys the module needs that the checkpoint lacks.
    case missingKeys([String], source: String)
    /// Keys in the checkpoint that no parameter of the module takes.
    case unexpectedKeys([String], source: String)
    /// A key whose stored shape differs from the module's parameter.
    case shapeMismatch(key: String, expected: [Int], found: [Int], source: String)
    /// The same parameter key offered twice (e.g. by two shards).
    case duplicateKey(String, sources: [String])
    /// A stored weight holds NaN or an infinity (the first one found, by flat index).
    case nonFiniteValue(key: String, index: Int, value: Float, source: String)

    /// The file(s) the error is about.
    public var sourceName: String {
        switch self {
        case .missingKeys(_, let s), .unexpectedKeys(_, let s), .shapeMismatch(_, _, _, let s): return s
        case .duplicateKey(_, let sources): return sources.joined(separator: ", ")
        case .nonFiniteValue(_, _, _, let s): return s
        }
    }

    public var description: String {
        func list(_ keys: [String]) -> String {
            let shown = keys.prefix(8).joined(separator: ", ")
            return keys.count > 8 ? "\(shown), ... (\(keys.count) in all)" : shown
        }
        switch self {
        case .missingKeys(let keys, let source):
            return "\(source): missing \(keys.count) weight(s) the model needs: \(list(keys))"
        case .unexpectedKeys(let keys, let source):
            return "\(source): \(keys.count) unexpected weight(s) the model does not use: \(list(keys))"
        case .shapeMismatch(let key, let expected, let found, let source):
            return "\(source): weight '\(key)' has shape \(found), the model (from its config) expects \(expected)"
        case .duplicateKey(let key, let sources):
            return "weight '\(key)' appears in more than one file: \(sources.joined(separator: ", "))"
        case .nonFiniteValue(let key, let index, let value, let source):
            return "\(source): weight '\(key)' holds \(value) at element \(index); every weight must be a finite number"
        }
    }
}
