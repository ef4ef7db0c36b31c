import SafeTensors
import TensorEngine

/// Named tensors that a module can load from: one or more safetensors files, optionally seen through
/// a key mapping (single-file checkpoints with original CompVis names, prefixed sub-models).
public final class TensorSource {
    struct Entry {
        let file: SafeTensorsFile
        let fileKey: String
        /// Set when the stored tensor may carry trailing unit dimensions (see `MappedTensorKey`).
        var presentedRank: Int? = nil
        /// Set when the key is a block of rows of the stored tensor (see `MappedTensorKey`).
        var rowBlock: MappedTensorKey.RowBlock? = nil
        /// Set when the key is the transpose of a stored matrix (see `MappedTensorKey`).
        var transposed = false

        func shape() throws -> [Int] {
            let stored = try file.info(fileKey).shape
            guard presentedRank != nil || rowBlock != nil || transposed else { return stored }
            return MappedTensorKey(fileKey, droppingTrailingUnitDimensionsBeyondRank: presentedRank, rowBlock: rowBlock, transposed: transposed)
                .presentedShape(stored: stored)
        }

        /// Copies the presented tensor (the whole stored tensor, its row block, or its transpose) into
        /// `destination`; returns the index in `destination` of its first NaN or infinity, nil when every
        /// value is finite.
        func copy(into destination: Tensor) throws -> Int? {
            if !transposed, let block = rowBlock {
                // shape() has matched destination.shape: the stored tensor is `block.count` such blocks, and
                // this one is a run of its elements.
                let start = block.index * destination.count
                return try file.copyFloatsFindingNonFinite(fileKey, elements: start..<(start + destination.count), into: destination.pointer)
            }
            guard transposed else {
                return try file.copyFloatsFindingNonFinite(fileKey, into: destination.pointer, count: destination.count)
            }
            // shape() has matched destination.shape: the stored tensor is [C, R] for a [R, C] destination.
            let stored = try file.info(fileKey).shape
            let whole = Tensor(uninitialized: stored)
            try file.copyFloats(fileKey, into: whole.pointer, count: whole.count)
            let (rows, columns) = (stored[0], stored[1])
            withExtendedLifetime(whole) {
                for r in 0..<rows {
                    for c in 0..<columns { destination.pointer[c * rows + r] = whole.pointer[r * columns + c] }
                }
            }
            return NonFiniteScan.firstIndex(destination.pointer, count: destination.count)
        }
    }

    private var entries: [String: Entry] = [:]
    /// Human-readable origin used in error messages (file paths).
    public let name: String

    /// All keys of the given files.
    public convenience init(files: [SafeTensorsFile]) throws {
        try self.init(files: files) { $0 }
    }

    /// Keys of the files mapped by `map` (nil drops a key: it is neither loaded nor reported).
    public convenience init(files: [SafeTensorsFile], mapping map: (String) -> String?) throws {
        try self.init(files: files, keyMapping: { map($0).map { MappedTensorKey($0) } })
    }

    /// Keys of the files mapped by `map`, which may also mark a key as stored with trailing unit
    /// dimensions (`MappedTensorKey`); nil drops a key: it is neither loaded nor reported.
    /// `name` (default: the file paths) is what error messages call this source.
    public convenience init(files: [SafeTensorsFile], name: String? = nil, keyMapping map: (String) -> MappedTensorKey?) throws {
        try self.init(files: files, name: name, keyMappings: { key in map(key).map { [$0] } ?? [] })
    }

    /// Keys of the files mapped by `map` to any number of keys each (none drops a key; several split
    /// a fused tensor into row blocks, `MappedTensorKey.rowBlock`).
    public init(files: [SafeTensorsFile], name: String? = nil, keyMappings map: (String) -> [MappedTensorKey]) throws {
        self.name = name ?? files.map(\.path).joined(separator: ", ")
        for file in files {
            for key in file.keys {
                for mapped in map(key) {
                    if let other = entries[mapped.name] {
                        throw WeightLoadingError.duplicateKey(
                            mapped.name, sources: [other.file.path + ":" + other.fileKey, file.path + ":" + key])
                    }
                    entries[mapped.name] = Entry(
                        file: file, fileKey: key, presentedRank: mapped.droppingTrailingUnitDimensionsBeyondRank,
                        rowBlock: mapped.rowBlock, transposed: mapped.transposed)
                }
            }
        }
    }

    public convenience init(path: String) throws {
        try self.init(files: [SafeTensorsFile(path: path)])
    }

    public var keys: [String] { entries.keys.sorted() }

    public func contains(_ key: String) -> Bool { entries[key] != nil }

    public func shape(of key: String) throws -> [Int] {
        guard let e = entries[key] else { throw SafeTensorsError.keyNotFound(path: name, key: key) }
        return try e.shape()
    }

    /// Copies (and converts to Float32) the tensor `key` into `destination`, whose shape must match
    /// (after dropping trailing unit dimensions where the key's mapping allows it). The converted values
    /// are scanned: a NaN or infinity throws `WeightLoadingError.nonFiniteValue` naming the file and
    /// key (the destination then holds the bad values; strict module loading discards the module).
    public func load(_ key: String, into destination: Tensor) throws {
        guard let e = entries[key] else { throw SafeTensorsError.keyNotFound(path: name, key: key) }
        let found = try e.shape()
        guard found == destination.shape else {
            throw WeightLoadingError.shapeMismatch(key: key, expected: destination.shape, found: found, source: e.file.path)
        }
        if let index = try e.copy(into: destination) {
            throw WeightLoadingError.nonFiniteValue(key: e.fileKey, index: index, value: destination.pointer[index], source: e.file.path)
        }
    }

    /// Total number of elements of all tensors the source offers (a header-only figure).
    public var elementCount: Int {
        entries.values.reduce(0) { total, e in
            let stored = (try? e.file.info(e.fileKey).elementCount) ?? 0
            let count = e.rowBlock.map { stored / max($0.count, 1) } ?? stored
            return total.addingReportingOverflow(count).overflow ? Int.max : total + count
        }
    }

    /// The tensor `key` as a new Float32 tensor.
    public func tensor(_ key: String) throws -> Tensor {
        let t = Tensor(zeros: try shape(of: key))
        try load(key, into: t)
        return t
    }

    /// A view of the keys under `prefix.` with the prefix removed.
    public func subset(prefix: String) -> TensorSource {
        let p = prefix.hasSuffix(".") ? prefix : prefix + "."
        let sub = TensorSource(name: name)
        for (k, e) in entries where k.hasPrefix(p) { sub.entries[String(k.dropFirst(p.count))] = e }
        return sub
    }

    private init(name: String) { self.name = name }
}

extension TensorSource {
    /// Whether a configuration that needs at least `needed` parameters could describe these weights.
    /// Only a configuration far larger than its weights is refused before allocation; a near miss
    /// reaches strict loading, which names the first mis-shaped key.
    public func plausiblyHolds(parameterCount needed: Int) -> Bool {
        needed <= max(4 * elementCount, elementCount + (1 << 24))
    }
}
