import Foundation
import NeuralNet

/// Hyper-parameters of a CLIP text encoder, read from a transformers `config.json` (CLIPTextConfig,
/// transformers models/clip/configuration_clip.py). Absent fields take CLIPTextConfig's defaults;
/// `projection_dim` and other fields that do not change the text model are ignored.
public struct CLIPTextConfiguration: Codable, Equatable, Sendable {
    /// `vocab_size`: rows of the token embedding.
    public var vocabularySize: Int
    /// `hidden_size`: width D of every token state.
    public var hiddenSize: Int
    /// `intermediate_size`: hidden width of each MLP.
    public var intermediateSize: Int
    /// `num_hidden_layers`: number of encoder layers.
    public var layerCount: Int
    /// `num_attention_heads`: heads per self-attention; must divide `hiddenSize`.
    public var headCount: Int
    /// `max_position_embeddings`: longest token sequence (77 for SD).
    public var maxPositionEmbeddings: Int
    /// `hidden_act`: the MLP activation.
    public var hiddenActivation: CLIPActivation
    /// `layer_norm_eps`.
    public var layerNormEps: Float
    /// `bos_token_id`.
    public var bosTokenId: Int
    /// `eos_token_id`; 2 selects transformers' legacy pooling rule (argmax of the ids).
    public var eosTokenId: Int
    /// `pad_token_id`.
    public var padTokenId: Int

    public init(
        vocabularySize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048,
        layerCount: Int = 12, headCount: Int = 8, maxPositionEmbeddings: Int = 77,
        hiddenActivation: CLIPActivation = .quickGelu, layerNormEps: Float = 1e-5,
        bosTokenId: Int = 49406, eosTokenId: Int = 49407, padTokenId: Int = 1
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenActivation = hiddenActivation
        self.layerNormEps = layerNormEps
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
    }

    /// The SD1.x text encoder, OpenAI CLIP ViT-L/14's text tower: 768 wide, 12 layers of 12 heads,
    /// MLP 3072, 77 positions, quick GELU, 49408 tokens. Special ids as SD1.5's `text_encoder/config.json`
    /// (bos 0, eos 2, pad 1: the legacy pooling rule, which picks the EOS 49407 as the largest id).
    public static let sd15 = CLIPTextConfiguration(
        vocabularySize: 49408, hiddenSize: 768, intermediateSize: 3072, layerCount: 12, headCount: 12,
        maxPositionEmbeddings: 77, hiddenActivation: .quickGelu, layerNormEps: 1e-5,
        bosTokenId: 0, eosTokenId: 2, padTokenId: 1)

    /// Same as `sd15`.
    public static let vitL14 = sd15

    /// SDXL's second text encoder, OpenCLIP ViT-bigG/14's text tower as diffusers stores it
    /// (stable-diffusion-xl-base-1.0, text_encoder_2/config.json): 1280 wide, 32 layers of 20 heads,
    /// MLP 5120, 77 positions, GELU, 49408 tokens; its projection_dim is 1280.
    public static let openCLIPBigG = CLIPTextConfiguration(
        vocabularySize: 49408, hiddenSize: 1280, intermediateSize: 5120, layerCount: 32, headCount: 20,
        maxPositionEmbeddings: 77, hiddenActivation: .gelu, layerNormEps: 1e-5,
        bosTokenId: 0, eosTokenId: 2, padTokenId: 1)

    /// Width of one attention head.
    public var headDimension: Int { hiddenSize / headCount }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenActivation = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case padTokenId = "pad_token_id"
    }

    /// Decodes and validates; unsupported values throw `DecodingError.dataCorrupted` at their key.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfiguration()
        func positive(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            let value = try c.decodeIfPresent(Int.self, forKey: key) ?? fallback
            let range = CLIPTextConfiguration.allowedRanges[key.rawValue] ?? 1...Int.max
            guard range.contains(value) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "\(value) is outside the allowed range \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        func tokenId(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            if (try? c.decodeNil(forKey: key)) ?? true { return fallback }  // absent or null
            if let list = try? c.decode([Int].self, forKey: key) {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "a list of ids \(list) is not supported, expected one integer")
            }
            return try c.decode(Int.self, forKey: key)
        }
        vocabularySize = try positive(.vocabularySize, d.vocabularySize)
        hiddenSize = try positive(.hiddenSize, d.hiddenSize)
        intermediateSize = try positive(.intermediateSize, d.intermediateSize)
        layerCount = try positive(.layerCount, d.layerCount)
        headCount = try positive(.headCount, d.headCount)
        maxPositionEmbeddings = try positive(.maxPositionEmbeddings, d.maxPositionEmbeddings)
        if let name = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) {
            guard let act = CLIPActivation(rawValue: name) else {
                let known = CLIPActivation.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                throw DecodingError.dataCorruptedError(
                    forKey: .hiddenActivation, in: c, debugDescription: "unsupported activation \"\(name)\", expected one of \(known)")
            }
            hiddenActivation = act
        } else {
            hiddenActivation = d.hiddenActivation
        }
        let eps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? Double(d.layerNormEps)
        guard eps > 0, eps.isFinite else {
            throw DecodingError.dataCorruptedError(forKey: .layerNormEps, in: c, debugDescription: "must be a positive number, got \(eps)")
        }
        layerNormEps = Float(eps)
        bosTokenId = try tokenId(.bosTokenId, d.bosTokenId)
        eosTokenId = try tokenId(.eosTokenId, d.eosTokenId)
        padTokenId = try tokenId(.padTokenId, d.padTokenId)
        guard hiddenSize % headCount == 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .headCount, in: c,
                debugDescription: "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(headCount)")
        }
    }

    /// Allowed range of each size read from a `config.json`, checked before anything is allocated.
    /// Generous: CLIP ViT-L/14 has 49408 tokens, width 768, MLP 3072, 12 layers, 77 positions; the
    /// largest text towers in use are a few times wider. A vocabulary of 2^20 rows, 16384 positions
    /// (attention is quadratic in them) or 256 layers is far beyond any of them yet still refuses the
    /// absurd (2^62, a million layers) up front.
    public static let allowedRanges: [String: ClosedRange<Int>] = [
        "vocab_size": 1...(1 << 20), "hidden_size": 1...16_384, "intermediate_size": 1...65_536,
        "num_hidden_layers": 1...256, "num_attention_heads": 1...1_024, "max_position_embeddings": 1...16_384,
        "bos_token_id": -1...(1 << 20), "eos_token_id": -1...(1 << 20), "pad_token_id": -1...(1 << 20)
    ]

    /// A text encoder's `config.json`, read and passed through `check`; its errors become
    /// `CLIPTextModelError`s naming the file and the field.
    static func configurationFile(_ url: URL, check: (ConfigurationFile) throws -> Void) throws -> ConfigurationFile {
        do {
            let file = try ConfigurationFile(url: url)
            try check(file)
            return file
        } catch ConfigurationFileError.notFound {
            throw CLIPTextModelError.fileNotFound(path: url.path, what: "text encoder config.json")
        } catch let error as ConfigurationFileError {
            if case .invalidField(_, let field, let reason) = error {
                throw CLIPTextModelError.invalidConfiguration(file: url.path, field: field, reason: reason)
            }
            throw CLIPTextModelError.invalidConfiguration(file: url.path, field: "", reason: error.detail)
        }
    }

    /// Reads a transformers `config.json`; errors name the file and the offending field
    /// ("num_hidden_layers: expected an integer, got 2.5", "vocab_size: ... outside the allowed range").
    public static func load(from url: URL) throws -> CLIPTextConfiguration {
        let file = try configurationFile(url) {
            try $0.check(integers: allowedRanges, numbers: ["layer_norm_eps"], strings: ["hidden_act"])
        }
        do {
            return try JSONDecoder().decode(CLIPTextConfiguration.self, from: file.data)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw CLIPTextModelError.invalidConfiguration(file: url.path, field: "", reason: file.explain(error).detail)
            }
            throw CLIPTextConfiguration.describe(error, file: url.path)
        }
    }

    /// A lower bound of the parameter count this configuration implies (embeddings, attention and MLP
    /// weights), computed without allocating: a weights file with fewer values cannot fit it.
    public var minimumParameterCount: Int {
        let h = hiddenSize
        let perLayer = 4 * h * h + 2 * h * intermediateSize
        return vocabularySize * h + maxPositionEmbeddings * h + layerCount * perLayer
    }

    /// A decoding failure as a `CLIPTextModelError` naming the field.
    static func describe(_ error: DecodingError, file: String) -> CLIPTextModelError {
        func field(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .typeMismatch(let type, let context):
            let expected =
                type == Int.self ? "an integer" : type == String.self ? "a string" : type == Double.self ? "a number" : "a value of type \(type)"
            return .invalidConfiguration(file: file, field: field(context.codingPath), reason: "expected \(expected)")
        case .valueNotFound(let type, let context):
            return .invalidConfiguration(file: file, field: field(context.codingPath), reason: "expected a value of type \(type), found null")
        case .keyNotFound(let key, let context):
            return .invalidConfiguration(file: file, field: field(context.codingPath + [key]), reason: "missing")
        case .dataCorrupted(let context):
            let path = field(context.codingPath)
            return .invalidConfiguration(
                file: file, field: path,
                reason: path.isEmpty ? "not a valid JSON object (\(context.debugDescription))" : context.debugDescription)
        @unknown default:
            return .invalidConfiguration(file: file, field: "", reason: "\(error)")
        }
    }
}
