import TensorEngine

extension Module {
    /// Loads every parameter from `source`, strictly: all problems are collected and reported by key,
    /// and nothing is written unless the whole checkpoint fits (missing, unexpected and mis-shaped keys).
    public func load(from source: TensorSource) throws {
        let params = namedParameters()
        let ignored = Set(
            namedModules().flatMap { path, module in
                module.ignoredCheckpointKeys.map { path.isEmpty ? $0 : path + "." + $0 }
            })
        var missing: [String] = []
        for (key, p) in params {
            guard source.contains(key) else {
                missing.append(key)
                continue
            }
            let found = try source.shape(of: key)
            if found != p.shape {
                throw WeightLoadingError.shapeMismatch(key: key, expected: p.shape, found: found, source: source.name)
            }
        }
        if !missing.isEmpty { throw WeightLoadingError.missingKeys(missing, source: source.name) }
        let wanted = Set(params.map(\.0))
        let unexpected = source.keys.filter { !wanted.contains($0) && !ignored.contains($0) }
        if !unexpected.isEmpty { throw WeightLoadingError.unexpectedKeys(unexpected, source: source.name) }
        try Self.loadConcurrently(params, from: source)
    }

    /// Copies the parameters from `source`, several at a time (reading, converting from fp16 or bf16 and
    /// scanning for non-finite values are each a pass over the weights, and a model's load is otherwise
    /// one thread's work). Throws the error of the first failing parameter in `params`' order, as a
    /// loop over them in turn would.
    private static func loadConcurrently(_ params: [(String, Tensor)], from source: TensorSource) throws {
        let failures = UnsafeMutableBufferPointer<(any Error)?>.allocate(capacity: params.count)
        failures.initialize(repeating: nil)
        defer { failures.deinitialize().deallocate() }
        // Each call writes only its own parameter's storage and its own slot of `failures`.
        Parallel.forEach(params.count) { i in
            do {
                try source.load(params[i].0, into: params[i].1)
            } catch {
                failures[i] = error
            }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
    }

    /// Parameters keyed by path, for writing a checkpoint.
    public func stateDictionary() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: namedParameters())
    }
}
