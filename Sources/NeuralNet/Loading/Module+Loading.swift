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
        for (key, p) in params { try source.load(key, into: p) }
    }

    /// Parameters keyed by path, for writing a checkpoint.
    public func stateDictionary() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: namedParameters())
    }
}
