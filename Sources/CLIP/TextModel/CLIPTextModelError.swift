import Foundation

/// Why a CLIP text encoder folder, configuration or input cannot be used. Messages name the file,
/// field or argument and what was expected.
public enum CLIPTextModelError: Error, CustomStringConvertible, Equatable {
    /// A file the model needs does not exist.
    case fileNotFound(path: String, what: String)
    /// A configuration file cannot be read or names a value this implementation does not support.
    case invalidConfiguration(file: String, field: String, reason: String)
    /// Token ids that do not fit the model (ragged batch, too long, outside the vocabulary).
    case invalidInput(argument: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path, let what):
            return "\(path): \(what) not found"
        case .invalidConfiguration(let file, let field, let reason):
            return field.isEmpty ? "\(file): \(reason)" : "\(file): field '\(field)': \(reason)"
        case .invalidInput(let argument, let reason):
            return "\(argument): \(reason)"
        }
    }
}
