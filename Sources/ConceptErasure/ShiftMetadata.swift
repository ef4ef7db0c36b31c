import Diffusion
import Foundation

/// Everything a shift file says about how it was made (stored as JSON in the safetensors metadata).
public struct ShiftMetadata: Codable, Equatable, Sendable {
    public static let currentFormat = "sepme-shift/1"

    public var format: String = ShiftMetadata.currentFormat
    public var method: ErasureMethodKind = .sepme
    public var variant: ErasureVariant
    /// The prompt(s) of the erased concept; the first names it.
    public var concepts: [String]
    public var protectedPrompts: [String]
    /// Other concepts (of this request or of existing shift files) this shift leaves unchanged.
    public var decoupledFrom: [String]
    /// Fingerprint of the base model's text encoder(s) and cross-attention weights.
    public var baseFingerprint: String
    /// The family of the base model and the width of its cross-attention context (the text width d
    /// of the basis); nil in files written before they were recorded.
    public var modelFamily: ConditioningFamily?
    public var contextWidth: Int?
    public var hyperparameters: ErasureHyperparameters
    public var training: TrainingRecord
    public var nullSpace: NullSpaceReport?
    /// False for the `full` variant: it changes shared weights and cannot be removed independently.
    public var restorable: Bool
    public var toolVersion: String
    /// The settings of a UCE shift (`method` uce), with the preserve set it kept; nil otherwise.
    public var uce: UCEOptions?
    /// The settings of an ESD-x shift (`method` esd-x); nil otherwise.
    public var esd: ESDOptions?
    /// The settings of a CA shift (`method` ca); nil otherwise.
    public var ca: CAOptions?

    public var name: String { concepts.first ?? "" }

    /// The widest cross-attention context a shift file may record (SDXL's is 2048).
    public static let maximumContextWidth = 65_536

    /// Checks what the JSON types cannot: a named concept, a fingerprint of the form sepme writes,
    /// hyper-parameters in range. `path` names the file in the error.
    public func validate(path: String) throws {
        func invalid(_ reason: String) -> ErasureError { .invalidShiftFile(path: path, reason: reason) }
        guard format == Self.currentFormat else { throw invalid("metadata format '\(format)', expected '\(Self.currentFormat)'") }
        guard let first = concepts.first, !first.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw invalid("the metadata names no concept")
        }
        guard baseFingerprint.count == 16, baseFingerprint.allSatisfy(\.isHexDigit) else {
            throw invalid("base_fingerprint '\(baseFingerprint)' is not 16 hexadecimal digits")
        }
        if let contextWidth, !(1...Self.maximumContextWidth).contains(contextWidth) {
            throw invalid("context_width \(contextWidth), expected 1...\(Self.maximumContextWidth)")
        }
        do { try hyperparameters.validate() } catch { throw invalid("hyperparameters: \(error)") }
        do {
            try uce?.validate()
            try esd?.validate()
            try ca?.validate()
        } catch { throw invalid("\(error)") }
    }

    /// One line for a JSON decoding error: the key path and what was expected, instead of
    /// Foundation's debug description.
    public static func describe(decodingError error: Error) -> String {
        let path = keyPath
        guard let e = error as? DecodingError else { return "\(error)" }
        switch e {
        case .typeMismatch(let type, let c): return "\(path(c.codingPath)): expected \(type)"
        case .valueNotFound(let type, let c): return "\(path(c.codingPath)): expected \(type), found null"
        case .keyNotFound(let key, let c): return "\(path(c.codingPath + [key])): missing"
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not valid JSON" : "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// A JSON key path as a reader writes it: `concepts[0].prompt`.
    static func keyPath(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    public init(
        variant: ErasureVariant, concepts: [String], protectedPrompts: [String], decoupledFrom: [String],
        baseFingerprint: String, hyperparameters: ErasureHyperparameters, training: TrainingRecord,
        nullSpace: NullSpaceReport?, restorable: Bool, toolVersion: String
    ) {
        self.variant = variant
        self.concepts = concepts
        self.protectedPrompts = protectedPrompts
        self.decoupledFrom = decoupledFrom
        self.baseFingerprint = baseFingerprint
        self.hyperparameters = hyperparameters
        self.training = training
        self.nullSpace = nullSpace
        self.restorable = restorable
        self.toolVersion = toolVersion
    }

    enum CodingKeys: String, CodingKey {
        case format, method, variant, concepts
        case protectedPrompts = "protected"
        case decoupledFrom = "decoupled_from"
        case baseFingerprint = "base_fingerprint"
        case modelFamily = "model_family"
        case contextWidth = "context_width"
        case hyperparameters, training
        case nullSpace = "null_space"
        case restorable
        case toolVersion = "tool_version"
        case uce
        case esd = "esd_x"
        case ca
    }
}
