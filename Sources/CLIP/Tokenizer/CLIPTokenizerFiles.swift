import Foundation

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

    /// Order in which transformers (tokenization_utils_tokenizers.py `_post_init`) adds special tokens;
    /// a later key re-adds the same content and overrides its `normalized` flag.
    static let specialTokenKeys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    /// Defaults of transformers' CLIPTokenizer.__init__ (plain strings, hence normalized = false).
    static let defaultSpecialTokens: [String: AddedTokenSpec] = [
        "bos_token": AddedTokenSpec(content: "<|startoftext|>", normalized: false),
        "eos_token": AddedTokenSpec(content: "<|endoftext|>", normalized: false),
        "unk_token": AddedTokenSpec(content: "<|endoftext|>", normalized: false),
        "pad_token": AddedTokenSpec(content: "<|endoftext|>", normalized: false),
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
            guard let object = entry as? [String: Any], let id = object["id"] as? Int,
                  let content = object["content"] as? String else {
                throw CLIPTokenizerError(file: url.path, reason: "added_tokens[\(index)]: expected {\"id\", \"content\"}")
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
                guard let value = (length as? NSNumber)?.doubleValue, value >= 2 else {
                    throw CLIPTokenizerError(file: configURL.path, reason: "model_max_length must be a number >= 2")
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
            guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue), id >= 0 else {
                throw CLIPTokenizerError(file: file, reason: "\(key) entry \"\(token)\" has id \(value), expected an integer >= 0")
            }
            vocab[token] = id
        }
        return vocab
    }

    static func readText(_ url: URL) throws -> String {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIPTokenizerError(file: url.path, reason: "file not found")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CLIPTokenizerError(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIPTokenizerError(file: url.path, reason: "not valid UTF-8 text")
        }
        return text
    }

    static func readJSON(_ url: URL) throws -> Any {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIPTokenizerError(file: url.path, reason: "file not found")
        }
        do {
            return try JSONSerialization.jsonObject(with: Data(contentsOf: url), options: [.fragmentsAllowed])
        } catch {
            throw CLIPTokenizerError(file: url.path, reason: "invalid JSON (\(error.localizedDescription))")
        }
    }
}
