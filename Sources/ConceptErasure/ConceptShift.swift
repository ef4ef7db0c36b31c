import Foundation
import SafeTensors
import TensorEngine

/// One erased concept: its weight change (`ShiftWeights`, factorised or dense) and the record of how
/// it was made (`ShiftMetadata`). Put on a model with `ShiftSet`; written and read as a shift file.
///
/// File layout (`<slug>.sepme.safetensors`), factorised: `basis` [m, d], `beta` [] and
/// `<projection key>.A` [d_out, m] per edited projection; dense: `<projection key>.delta`
/// [d_out, d_in], and `<projection key>.bias_delta` [d_out] where the bias changes too. Metadata key `format` holds the format tag, `sepme` the ShiftMetadata JSON.
/// Reading checks every tensor's rank and shape against the others and the metadata, and that
/// every value is finite, so a shift that would read memory it does not own or poison a model is
/// refused with the file and the key; `ShiftSet` then checks the shapes against the model.
public final class ConceptShift {
    public var metadata: ShiftMetadata
    public let weights: ShiftWeights
    /// The file this shift was read from (for messages).
    public private(set) var sourcePath: String?

    public init(metadata: ShiftMetadata, weights: ShiftWeights) {
        self.metadata = metadata
        self.weights = weights
    }

    /// A factorised shift (dW = β A S per projection).
    public convenience init(metadata: ShiftMetadata, beta: Float, basis: Tensor, factors: [String: Tensor]) {
        self.init(metadata: metadata, weights: .factorised(beta: beta, basis: basis, factors: factors))
    }

    public var name: String { metadata.name }
    /// The file it came from, or its concept: how messages name this shift.
    public var displayName: String { sourcePath ?? "shift '\(name)'" }
    public var projectionKeys: [String] { weights.projectionKeys }

    /// dW for one projection: β A S, or the stored delta. [d_out, d_in]
    public func weightDelta(for key: String) -> Tensor? { GradMode.withNoGrad { weights.weightDelta(for: key) } }

    // MARK: Convenience views of the two forms

    public var basis: Tensor? {
        if case .factorised(_, let s, _, _) = weights { return s }
        return nil
    }
    public var beta: Float {
        if case .factorised(let b, _, _, _) = weights { return b }
        return 1
    }
    public var factors: [String: Tensor] {
        if case .factorised(_, _, let a, _) = weights { return a }
        return [:]
    }
    public var deltas: [String: Tensor] {
        if case .dense(let d, _) = weights { return d }
        return [:]
    }
    public var biasDeltas: [String: Tensor] {
        if case .dense(_, let b) = weights { return b }
        return [:]
    }

    // MARK: Files

    /// Writes the shift file atomically.
    public func write(to path: String) throws {
        var w = SafeTensorsWriter()
        switch weights {
        case .factorised(let beta, let basis, let factors, _):
            try w.add("basis", shape: basis.shape, floats: basis.scalars)
            for (k, a) in factors.sorted(by: { $0.key < $1.key }) { try w.add(k + ".A", shape: a.shape, floats: a.scalars) }
            try w.add("beta", shape: [], floats: [beta])
        case .dense(let deltas, let biases):
            for (k, d) in deltas.sorted(by: { $0.key < $1.key }) { try w.add(k + ".delta", shape: d.shape, floats: d.scalars) }
            for (k, b) in biases.sorted(by: { $0.key < $1.key }) { try w.add(k + ".bias_delta", shape: b.shape, floats: b.scalars) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(metadata), as: UTF8.self)
        try w.write(to: path, metadata: ["format": ShiftMetadata.currentFormat, "sepme": json])
    }

    public static func read(path: String) throws -> ConceptShift {
        func invalid(_ reason: String) -> ErasureError { .invalidShiftFile(path: path, reason: reason) }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch { throw invalid("\(error)") }
        guard file.metadata["format"] == ShiftMetadata.currentFormat, let json = file.metadata["sepme"] else {
            throw invalid("no '\(ShiftMetadata.currentFormat)' metadata (is it a LoRA or a model file?)")
        }
        let metadata: ShiftMetadata
        do { metadata = try JSONDecoder().decode(ShiftMetadata.self, from: Data(json.utf8)) } catch {
            throw invalid("metadata is not valid: \(ShiftMetadata.describe(decodingError: error))")
        }
        try metadata.validate(path: path)
        let reader = ShiftTensorReader(file: file, path: path)
        let weights = try reader.weights(metadata: metadata)
        let shift = ConceptShift(metadata: metadata, weights: weights)
        shift.sourcePath = path
        return shift
    }

    /// A file-name-safe form of a concept prompt: "Van Gogh" → "van-gogh".
    public static func slug(_ concept: String) -> String {
        var out = ""
        for ch in concept.lowercased() {
            if ch.isLetter || ch.isNumber { out.append(ch) } else if !out.hasSuffix("-") { out.append("-") }
        }
        let trimmed = out.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return trimmed.isEmpty ? "concept" : String(trimmed.prefix(64))
    }
}
