import Foundation
import NeuralNet

/// A tokenizer file that could not be read; the message names the file and what was wrong.
public struct CLIPTokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file (or folder) at fault.
    public let file: String
    /// What was expected and what was found.
    public let reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}

/// A special token as transformers configures it: `normalized == false` tokens are matched in the raw
/// text, `normalized == true` ones after NFC + whitespace + lowercase normalisation (tokenizers' AddedVocabulary).
struct AddedTokenSpec: Equatable {
    var content: String
    var normalized: Bool
}

/// The raw contents of a tokenizer folder: BPE vocabulary and merges plus special-token configuration.
struct CLIPTokenizerFiles {
    var vocab: [String: Int]
    var merges: [(String, String)]
    /// Added tokens with their ids from tokenizer.json's "added_tokens" (empty for vocab.json + merges.txt).
    var addedTokens: [(id: Int, spec: AddedTokenSpec, special: Bool)] = []
    /// bos/eos/unk/sep/pad/cls/mask as configured by special_tokens_map.json / tokenizer_config.json.
    var specialTokens: [String: AddedTokenSpec] = [:]
    /// Keys of `specialTokens` that hold CLIPTokenizer's defaults rather than a configured value.
    var defaultedKeys: Set<String> = []
    var modelMaxLength: Int?

    /// Token ids must be below 2^24 (CLIP has 49408; the text encoders sepme loads allow at most 2^20
    /// rows), so an id read from a file can never overflow the id arithmetic.
    static let idLimit = 1 << 24
    /// Largest `model_max_length` taken as a length: 16384, the text encoders' position limit.
    /// transformers writes 1e30 (or another value >= 1e9) for "unset", which falls back to 77.
    static let maximumModelMaxLength = 16_384

    /// Order in which transformers (tokenization_utils_tokenizers.py `_post_init`) adds special tokens;
    /// a later key re-adds the same content and overrides its `normalized` flag.
    static let specialTokenKeys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    /// Defaults of transformers' CLIPTokenizer.__init__ (plain strings, hence normalized = false).
    static let defaultSpecialTokens: [String: AddedTokenSpec] = [
        "bos_token": AddedTokenSpec(content: "<|startoftext|>", normalized: false),
        "eos_token": AddedTokenSpec(content: "<|endoftext|>", normalized: false),
        "unk_token": AddedTokenSpec(content: "<|endoftext|>", normalized: false),
        "pad_token": AddedTokenSpec(content: "<|endoftext|>", normalized: false)
    ]

    /// SD1.x hub layout: `merges.txt` starts with a "#version" header and holds the 48894 CLIP merges.
    static func load(vocabURL: URL, mergesURL: URL) throws -> CLIPTokenizerFiles {
        let vocabObject = try readJSON(vocabURL)
        guard let vocabDict = vocabObject as? [String: Any] else {
            throw CLIPTokenizerError(file: vocabURL.path, reason: "expected a JSON object mapping token -> id")
        }
        let vocab = try parseVocab(vocabDict, file: vocabURL.path)
        let text = try readText(mergesURL)
        var merges: [(String, String)] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
            if trimmed.isEmpty || (lineNumber == 1 && trimmed.hasPrefix("#version")) { continue }
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CLIPTokenizerError(
                    file: mergesURL.path,
                    reason: "line \(lineNumber): expected two space-separated tokens, found \"\(trimmed)\"")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return CLIPTokenizerFiles(vocab: vocab, merges: merges)
    }

    /// HF tokenizers format: `model.vocab` (object) and `model.merges` ("a b" strings or [a, b] pairs).
    static func load(tokenizerJSON url: URL) throws -> CLIPTokenizerFiles {
        guard let root = try readJSON(url) as? [String: Any] else {
            throw CLIPTokenizerError(file: url.path, reason: "expected a JSON object at the top level")
        }
        guard let model = root["model"] as? [String: Any] else {
            throw CLIPTokenizerError(file: url.path, reason: "missing object \"model\"")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw CLIPTokenizerError(file: url.path, reason: "model.type is \"\(type)\", expected \"BPE\"")
        }
        guard let vocabDict = model["vocab"] as? [String: Any] else {
            throw CLIPTokenizerError(file: url.path, reason: "missing object \"model.vocab\"")
        }
        let vocab = try parseVocab(vocabDict, file: url.path, key: "model.vocab")
        guard let rawMerges = model["merges"] as? [Any] else {
            throw CLIPTokenizerError(file: url.path, reason: "missing array \"model.merges\"")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(rawMerges.count)
        for (index, entry) in rawMerges.enumerated() {
            if let string = entry as? String {
                let parts = string.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
                    merges.append((String(parts[0]), String(parts[1])))
                    continue
                }
            } else if let pair = entry as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                merges.append((a, b))
                continue
            }
            throw CLIPTokenizerError(
                file: url.path, reason: "model.merges[\(index)]: expected \"a b\" or [\"a\", \"b\"], found \(entry)")
        }
        var files = CLIPTokenizerFiles(vocab: vocab, merges: merges)
        for (index, entry) in ((root["added_tokens"] as? [Any]) ?? []).enumerated() {
            guard let object = entry as? [String: Any], let number = object["id"] as? NSNumber,
                let id = Int(exactly: number.doubleValue), (0..<idLimit).contains(id),
                let content = object["content"] as? String
            else {
                throw CLIPTokenizerError(
                    file: url.path, reason: "added_tokens[\(index)]: expected {\"id\": an integer in 0..<\(idLimit), \"content\": a string}")
            }
            let spec = AddedTokenSpec(content: content, normalized: (object["normalized"] as? Bool) ?? false)
            files.addedTokens.append((id, spec, (object["special"] as? Bool) ?? false))
        }
        return files
    }

    /// Reads special tokens and `model_max_length` the way transformers' `from_pretrained` does:
    /// tokenizer_config.json first, special_tokens_map.json overriding it; tokens listed in the config's
    /// `added_tokens_decoder` take their flags from there.
    mutating func applyConfiguration(folder: URL) throws {
        var special = CLIPTokenizerFiles.defaultSpecialTokens
        var configured = Set<String>()
        var decoderFlags: [String: AddedTokenSpec] = [:]
        var hasAddedTokensDecoder = false
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: configURL.path) {
            guard let config = try CLIPTokenizerFiles.readJSON(configURL) as? [String: Any] else {
                throw CLIPTokenizerError(file: configURL.path, reason: "expected a JSON object at the top level")
            }
            if let length = config["model_max_length"] {
                guard let number = length as? NSNumber, !ConfigurationFile.isBooleanValue(number), number.doubleValue.isFinite,
                    number.doubleValue == number.doubleValue.rounded()
                else {
                    throw CLIPTokenizerError(
                        file: configURL.path, reason: "model_max_length: expected an integer, got \(ConfigurationFile.describe(length))")
                }
                let value = number.doubleValue
                guard value >= 1e9 || (2...Double(Self.maximumModelMaxLength)).contains(value) else {
                    throw CLIPTokenizerError(
                        file: configURL.path,
                        reason:
                            "model_max_length \(ConfigurationFile.describe(length)) is outside the allowed range 2...\(Self.maximumModelMaxLength) (or >= 1e9 for unset)"
                    )
                }
                modelMaxLength = value < 1e9 ? Int(value) : nil  // transformers' "unset" is 1e30
            }
            hasAddedTokensDecoder = config["added_tokens_decoder"] != nil
            for (_, entry) in (config["added_tokens_decoder"] as? [String: Any]) ?? [:] {
                if let spec = try CLIPTokenizerFiles.parseSpecialToken(entry, file: configURL.path) {
                    decoderFlags[spec.content] = spec
                }
            }
            for key in CLIPTokenizerFiles.specialTokenKeys {
                if let value = config[key], let spec = try CLIPTokenizerFiles.parseSpecialToken(value, file: configURL.path) {
                    special[key] = spec
                    configured.insert(key)
                }
            }
        }
        let mapURL = folder.appendingPathComponent("special_tokens_map.json")
        if !hasAddedTokensDecoder, FileManager.default.fileExists(atPath: mapURL.path) {
            guard let map = try CLIPTokenizerFiles.readJSON(mapURL) as? [String: Any] else {
                throw CLIPTokenizerError(file: mapURL.path, reason: "expected a JSON object at the top level")
            }
            for key in CLIPTokenizerFiles.specialTokenKeys {
                if let value = map[key], let spec = try CLIPTokenizerFiles.parseSpecialToken(value, file: mapURL.path) {
                    special[key] = spec
                    configured.insert(key)
                }
            }
        }
        for (key, spec) in special {
            if let flags = decoderFlags[spec.content] { special[key] = flags }
        }
        specialTokens = special
        defaultedKeys = Set(special.keys).subtracting(configured)
    }

    /// A special token given as a string (normalized = false) or as an AddedToken object.
    static func parseSpecialToken(_ value: Any, file: String) throws -> AddedTokenSpec? {
        if value is NSNull { return nil }
        if let string = value as? String { return AddedTokenSpec(content: string, normalized: false) }
        if let object = value as? [String: Any], let content = object["content"] as? String {
            return AddedTokenSpec(content: content, normalized: (object["normalized"] as? Bool) ?? false)
        }
        throw CLIPTokenizerError(file: file, reason: "special token must be a string or {\"content\": ...}, found \(value)")
    }

    static func parseVocab(_ dict: [String: Any], file: String, key: String = "vocabulary") throws -> [String: Int] {
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(dict.count)
        for (token, value) in dict {
            guard let number = value as? NSNumber, !ConfigurationFile.isBooleanValue(number),
                number.doubleValue.isFinite, let id = Int(exactly: number.doubleValue), (0..<idLimit).contains(id)
            else {
                throw CLIPTokenizerError(
                    file: file,
                    reason:
                        "\(key) entry \(ConfigurationFile.describe(token)) has id \(ConfigurationFile.describe(value)), expected an integer in 0..<\(idLimit)"
                )
            }
            vocab[token] = id
        }
        return vocab
    }

    /// The bytes of a tokenizer file (a regular file of at most `ConfigurationFile.maximumSize`).
    static func readData(_ url: URL) throws -> Data {
        do {
            return try ConfigurationFile.readRegularFile(url, limit: ConfigurationFile.maximumSize)
        } catch let error as ConfigurationFileError {
            throw CLIPTokenizerError(file: url.path, reason: error.detail)
        }
    }

    static func readText(_ url: URL) throws -> String {
        let data = try readData(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIPTokenizerError(file: url.path, reason: "not valid UTF-8 text")
        }
        return text
    }

    static func readJSON(_ url: URL) throws -> Any {
        let data = try readData(url)
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            // JSONSerialization's debug description says where the JSON breaks; its localized text does not.
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw CLIPTokenizerError(file: url.path, reason: "invalid JSON" + (detail.map { " (\($0))" } ?? ""))
        }
    }
}
