import NeuralNet

/// The text-facing projections SepME edits: key and value of every cross-attention layer (`attn2`),
/// found by module path in diffusers order (method.md "Setting": the image-independent weights).
public struct CrossAttentionProjections {
    public struct Layer {
        /// Path of the attention module, e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn2".
        public let key: String
        public let toQ: Linear?
        public let toK: Linear
        public let toV: Linear
        public let toOut: Linear?
    }

    public let layers: [Layer]

    /// Finds every `*.attn2` module with `to_k` / `to_v` Linear children below `root`.
    public init(in root: Module) throws {
        let modules = root.namedModules()
        let byKey = Dictionary(modules, uniquingKeysWith: { a, _ in a })
        var found: [Layer] = []
        for (key, _) in modules where key == "attn2" || key.hasSuffix(".attn2") {
            guard let k = byKey[key + ".to_k"] as? Linear, let v = byKey[key + ".to_v"] as? Linear else { continue }
            found.append(
                Layer(
                    key: key, toQ: byKey[key + ".to_q"] as? Linear, toK: k, toV: v,
                    toOut: byKey[key + ".to_out.0"] as? Linear))
        }
        guard !found.isEmpty else {
            throw ErasureError.noCrossAttention
        }
        layers = found
    }

    /// (projection key, Linear) for the key and value projections: "<layer>.to_k", "<layer>.to_v".
    public var keyValueProjections: [(String, Linear)] {
        layers.flatMap { [($0.key + ".to_k", $0.toK), ($0.key + ".to_v", $0.toV)] }
    }

    /// Every projection of every cross-attention layer (q, k, v, out), for the `full` variant.
    public var allProjections: [(String, Linear)] {
        layers.flatMap { l -> [(String, Linear)] in
            var out: [(String, Linear)] = []
            if let q = l.toQ { out.append((l.key + ".to_q", q)) }
            out += [(l.key + ".to_k", l.toK), (l.key + ".to_v", l.toV)]
            if let o = l.toOut { out.append((l.key + ".to_out.0", o)) }
            return out
        }
    }

    /// Text width d (input features of the key projection).
    public var textWidth: Int { layers[0].toK.inFeatures }
}
