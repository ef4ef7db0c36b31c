import Foundation
import SafeTensors
import TensorEngine

/// One concept's erasure: per cross-attention projection a factor A (d_out × m), a shared basis S
/// (m × d, orthonormal rows spanning the null space of the protected embeddings) and β, so that
/// dW = β A S (method.md §1). The `full` variant stores dense deltas instead (not restorable).
///
/// File layout (`<slug>.sepme.safetensors`): `basis` [m, d]; `<projection key>.A` [d_out, m] for every
/// `...attn2.to_k` / `...attn2.to_v`; for `full`, `<projection key>.delta` [d_out, d_in]; metadata key
/// `sepme` holds ShiftMetadata as JSON, `format` the format tag.
public final class ConceptShift {
    public var metadata: ShiftMetadata
    public let beta: Float
    /// S: [m, d]; nil for the `full` variant.
    public let basis: Tensor?
    /// Projection key (e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k") → A [d_out, m].
    public let factors: [String: Tensor]
    /// Projection key → dense delta [d_out, d_in] (the `full` variant).
    public let deltas: [String: Tensor]
    /// The file this shift was read from (for messages).
    public private(set) var sourcePath: String?

    public init(metadata: ShiftMetadata, beta: Float, basis: Tensor?, factors: [String: Tensor], deltas: [String: Tensor] = [:]) {
        self.metadata = metadata
        self.beta = beta
        self.basis = basis
        self.factors = factors
        self.deltas = deltas
    }

    public var name: String { metadata.name }
    public var projectionKeys: [String] { Array(Set(factors.keys).union(deltas.keys)).sorted() }

    /// dW for one projection: β A S, or the stored delta. [d_out, d_in]
    public func weightDelta(for key: String) -> Tensor? {
        if let d = deltas[key] { return d }
        guard let a = factors[key], let s = basis else { return nil }
        return GradMode.withNoGrad { Tensor.matmul(a, s) * beta }
    }

    // MARK: Files

    public func write(to path: String) throws {
        var w = SafeTensorsWriter()
        if let basis { try w.add("basis", shape: basis.shape, floats: basis.scalars) }
        for (k, a) in factors.sorted(by: { $0.key < $1.key }) { try w.add(k + ".A", shape: a.shape, floats: a.scalars) }
        for (k, d) in deltas.sorted(by: { $0.key < $1.key }) { try w.add(k + ".delta", shape: d.shape, floats: d.scalars) }
        try w.add("beta", shape: [], floats: [beta])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(metadata), as: UTF8.self)
        try w.write(to: path, metadata: ["format": ShiftMetadata.currentFormat, "sepme": json])
    }

    public static func read(path: String) throws -> ConceptShift {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch {
            throw ErasureError.invalidShiftFile(path: path, reason: "\(error)")
        }
        guard file.metadata["format"] == ShiftMetadata.currentFormat, let json = file.metadata["sepme"] else {
            throw ErasureError.invalidShiftFile(path: path, reason: "no '\(ShiftMetadata.currentFormat)' metadata (is it a LoRA or a model file?)")
        }
        let metadata: ShiftMetadata
        do { metadata = try JSONDecoder().decode(ShiftMetadata.self, from: Data(json.utf8)) } catch {
            throw ErasureError.invalidShiftFile(path: path, reason: "metadata is not valid: \(error)")
        }
        func tensor(_ key: String) throws -> Tensor {
            let info = try file.info(key)
            return Tensor(try file.floats(key), shape: info.shape)
        }
        do {
            let beta = try file.keys.contains("beta") ? tensor("beta").item : Float(metadata.hyperparameters.beta)
            let basis = file.keys.contains("basis") ? try tensor("basis") : nil
            var factors: [String: Tensor] = [:], deltas: [String: Tensor] = [:]
            for key in file.keys {
                if key.hasSuffix(".A") { factors[String(key.dropLast(2))] = try tensor(key) }
                else if key.hasSuffix(".delta") { deltas[String(key.dropLast(6))] = try tensor(key) }
                else if key != "beta" && key != "basis" {
                    throw ErasureError.invalidShiftFile(path: path, reason: "unexpected tensor '\(key)'")
                }
            }
            if !factors.isEmpty {
                guard let basis else { throw ErasureError.invalidShiftFile(path: path, reason: "factors without a 'basis' tensor") }
                for (k, a) in factors where a.rank != 2 || a.shape[1] != basis.shape[0] {
                    throw ErasureError.invalidShiftFile(path: path, reason: "'\(k).A' has shape \(a.shape), expected [d_out, \(basis.shape[0])] to match 'basis' \(basis.shape)")
                }
            }
            guard !factors.isEmpty || !deltas.isEmpty else {
                throw ErasureError.invalidShiftFile(path: path, reason: "no shift tensors")
            }
            let shift = ConceptShift(metadata: metadata, beta: beta, basis: basis, factors: factors, deltas: deltas)
            shift.sourcePath = path
            return shift
        } catch let e as ErasureError { throw e } catch {
            throw ErasureError.invalidShiftFile(path: path, reason: "\(error)")
        }
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
