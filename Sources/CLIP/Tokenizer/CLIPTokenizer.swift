import Foundation

/// CLIP's byte-level BPE tokenizer, producing the ids that diffusers' StableDiffusionPipeline gets from
/// transformers' `CLIPTokenizer(prompt, padding="max_length", max_length=77, truncation=True)`
/// (transformers models/clip/tokenization_clip.py; normalisation and splitting: see `CLIPPreTokenizer`).
///
/// Special tokens (`<|startoftext|>`, `<|endoftext|>`, a pad token such as "!") are matched in the text
/// the way tokenizers' AddedVocabulary does: tokens with `normalized == false` in the raw text, the others
/// after normalisation. `lstrip` / `rstrip` / `single_word` flags are not honoured (all false for CLIP).
public struct CLIPTokenizer: Sendable {
    /// Id of the beginning-of-sequence token (49406 for CLIP).
    public let bosTokenId: Int
    /// Id of the end-of-sequence token (49407 for CLIP).
    public let eosTokenId: Int
    /// Id of the padding token (49407 for SD1.x folders, 0 where the pad token is "!").
    public let padTokenId: Int
    /// `model_max_length` from tokenizer_config.json, else 77.
    public let modelMaxLength: Int
    /// True when no `model_max_length` was configured and 77 is assumed.
    public let modelMaxLengthIsAssumed: Bool
    /// Number of ids: vocabulary plus added tokens outside it (49408 for CLIP).
    public let vocabularySize: Int

    private let encoder: BytePairEncoder
    private let idToToken: [Int: String]
    /// Added tokens matched in raw text (first) and in normalised text (second), longest first.
    private let rawAddedTokens: [(scalars: [Unicode.Scalar], id: Int)]
    private let normalizedAddedTokens: [(scalars: [Unicode.Scalar], id: Int)]
    private let specialIds: Set<Int>

    /// Loads a tokenizer folder: `vocab.json` + `merges.txt` (SD1.x hub layout), or `tokenizer.json` when
    /// those are absent; `special_tokens_map.json` and `tokenizer_config.json` are read when present.
    public init(folder: URL) throws {
        let vocabURL = folder.appendingPathComponent("vocab.json")
        let mergesURL = folder.appendingPathComponent("merges.txt")
        let jsonURL = folder.appendingPathComponent("tokenizer.json")
        let fm = FileManager.default
        var files: CLIPTokenizerFiles
        let vocabFile: String
        let mergesFile: String
        if fm.fileExists(atPath: vocabURL.path) || fm.fileExists(atPath: mergesURL.path) || !fm.fileExists(atPath: jsonURL.path) {
            guard fm.fileExists(atPath: folder.path) else {
                throw CLIPTokenizerError(file: folder.path, reason: "tokenizer folder not found")
            }
            if !fm.fileExists(atPath: vocabURL.path) && !fm.fileExists(atPath: mergesURL.path) {
                throw CLIPTokenizerError(
                    file: folder.path, reason: "no tokenizer files: expected vocab.json + merges.txt or tokenizer.json")
            }
            files = try CLIPTokenizerFiles.load(vocabURL: vocabURL, mergesURL: mergesURL)
            (vocabFile, mergesFile) = (vocabURL.path, mergesURL.path)
        } else {
            files = try CLIPTokenizerFiles.load(tokenizerJSON: jsonURL)
            (vocabFile, mergesFile) = (jsonURL.path, jsonURL.path)
        }
        try files.applyConfiguration(folder: folder)
        try self.init(files: files, vocabFile: vocabFile, mergesFile: mergesFile)
    }

    /// Loads `vocab.json` and `merges.txt` with CLIP's default special tokens and a max length of 77.
    public init(vocabURL: URL, mergesURL: URL) throws {
        var files = try CLIPTokenizerFiles.load(vocabURL: vocabURL, mergesURL: mergesURL)
        files.specialTokens = CLIPTokenizerFiles.defaultSpecialTokens
        files.defaultedKeys = Set(files.specialTokens.keys)
        try self.init(files: files, vocabFile: vocabURL.path, mergesFile: mergesURL.path)
    }

    init(files: CLIPTokenizerFiles, vocabFile: String, mergesFile: String) throws {
        encoder = try BytePairEncoder(vocab: files.vocab, merges: files.merges, vocabFile: vocabFile, mergesFile: mergesFile)
        var tokens: [Int: String] = [:]
        tokens.reserveCapacity(files.vocab.count)
        for (token, id) in files.vocab { tokens[id] = token }
        var nextId = (files.vocab.values.max() ?? -1) + 1
        // Added tokens keyed by content; later entries override the `normalized` flag (transformers re-adds
        // special tokens in `specialTokenKeys` order after loading tokenizer.json's added_tokens).
        var added: [String: (id: Int, normalized: Bool)] = [:]
        var order: [String] = []
        var special = Set<Int>()
        func add(_ spec: AddedTokenSpec, id explicitId: Int?, keepExistingFlags: Bool = false) -> Int {
            let id: Int
            if let existing = added[spec.content] {
                if keepExistingFlags { return existing.id }
                id = existing.id
            } else if let explicitId {
                id = explicitId
            } else if let vocabId = files.vocab[spec.content] {
                id = vocabId
            } else {
                id = nextId
                nextId += 1
            }
            if added[spec.content] == nil { order.append(spec.content) }
            added[spec.content] = (id, spec.normalized)
            tokens[id] = spec.content
            nextId = max(nextId, id + 1)
            return id
        }
        for entry in files.addedTokens {
            let id = add(entry.spec, id: entry.id)
            if entry.special { special.insert(id) }
        }
        var specialIdByKey: [String: Int] = [:]
        for key in CLIPTokenizerFiles.specialTokenKeys {
            guard let spec = files.specialTokens[key] else { continue }
            // A default (unconfigured) special token keeps the flags tokenizer.json gave it, as transformers does.
            let id = add(spec, id: nil, keepExistingFlags: files.defaultedKeys.contains(key))
            specialIdByKey[key] = id
            special.insert(id)
        }
        let fallback = CLIPTokenizerFiles.defaultSpecialTokens
        func resolve(_ key: String) -> Int {
            specialIdByKey[key] ?? files.vocab[fallback[key]!.content] ?? add(fallback[key]!, id: nil)
        }
        bosTokenId = resolve("bos_token")
        eosTokenId = resolve("eos_token")
        padTokenId = resolve("pad_token")
        modelMaxLength = files.modelMaxLength ?? 77
        modelMaxLengthIsAssumed = files.modelMaxLength == nil
        idToToken = tokens
        vocabularySize = nextId
        specialIds = special
        let entries = order.map { (scalars: Array($0.unicodeScalars), id: added[$0]!.id, normalized: added[$0]!.normalized) }
            .filter { !$0.scalars.isEmpty }
            .sorted { $0.scalars.count > $1.scalars.count }
        rawAddedTokens = entries.filter { !$0.normalized }.map { ($0.scalars, $0.id) }
        normalizedAddedTokens = entries.filter { $0.normalized }.map { ($0.scalars, $0.id) }
    }

    /// BOS + every token of `text` + EOS, without truncation or padding.
    public func tokenize(_ text: String) -> [Int] {
        [bosTokenId] + contentIds(text) + [eosTokenId]
    }

    /// BOS + tokens + EOS, truncated to the first `maxLength - 2` tokens and padded with the pad id to
    /// exactly `maxLength` ids (default `modelMaxLength`, 77 for SD1.x).
    public func encode(_ text: String, maxLength: Int? = nil) -> [Int] {
        let length = max(maxLength ?? modelMaxLength, 2)
        var ids = [bosTokenId]
        ids.append(contentsOf: contentIds(text).prefix(length - 2))
        ids.append(eosTokenId)
        ids.append(contentsOf: repeatElement(padTokenId, count: length - ids.count))
        return ids
    }

    /// Text for `ids` as transformers' `decode` gives it: byte-level decoding, `</w>` -> " ", stripped.
    /// Special tokens (BOS, EOS, pad, unk) are left out unless `skipSpecialTokens` is false.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecialTokens && specialIds.contains(id) { continue }
            guard let token = idToToken[id] else { continue }
            let start = bytes.count
            var allMapped = true
            for scalar in token.unicodeScalars {
                guard let byte = BytePairEncoder.characterToByte[scalar] else {
                    allMapped = false
                    break
                }
                bytes.append(byte)
            }
            if !allMapped {  // tokenizers' ByteLevel decoder keeps such a token's own UTF-8 bytes
                bytes.removeSubrange(start...)
                bytes.append(contentsOf: token.utf8)
            }
        }
        // `</w>` -> " " per scalar, as Python's str.replace (String.replacingOccurrences would compare
        // grapheme clusters and miss "</w>" followed by a combining mark).
        let decoded = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        let suffix = Array(BytePairEncoder.endOfWord.unicodeScalars)
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(decoded.count)
        var i = 0
        while i < decoded.count {
            if decoded[i] == suffix[0], i + suffix.count <= decoded.count, decoded[i..<(i + suffix.count)].elementsEqual(suffix) {
                scalars.append(" ")
                i += suffix.count
            } else {
                scalars.append(decoded[i])
                i += 1
            }
        }
        // Python str.strip(): Unicode White_Space plus U+001C...U+001F.
        func isPythonSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || (0x1C...0x1F).contains(s.value) }
        guard let first = scalars.firstIndex(where: { !isPythonSpace($0) }),
            let last = scalars.lastIndex(where: { !isPythonSpace($0) })
        else { return "" }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[first...last])
        return String(view)
    }

    /// Token ids of `text` without BOS/EOS.
    private func contentIds(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in split(Array(text.unicodeScalars), on: rawAddedTokens) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                var view = String.UnicodeScalarView()
                view.append(contentsOf: raw)
                let normalized = CLIPPreTokenizer.normalize(String(view))
                for part in split(normalized, on: normalizedAddedTokens) {
                    switch part {
                    case .token(let id):
                        ids.append(id)
                    case .text(let scalars):
                        for piece in CLIPPreTokenizer.pieces(scalars) {
                            ids.append(contentsOf: encoder.encode(piece: piece).lazy.map { Int($0) })
                        }
                    }
                }
            }
        }
        return ids
    }

    private enum Segment {
        case text([Unicode.Scalar])
        case token(Int)
    }

    /// Leftmost-longest matches of `tokens` in `text` (tokenizers' AddedVocabulary split).
    private func split(_ text: [Unicode.Scalar], on tokens: [(scalars: [Unicode.Scalar], id: Int)]) -> [Segment] {
        guard !tokens.isEmpty, !text.isEmpty else { return text.isEmpty ? [] : [.text(text)] }
        var segments: [Segment] = []
        var textStart = 0
        var i = 0
        while i < text.count {
            var matched: (length: Int, id: Int)?
            for token in tokens where token.scalars[0] == text[i] && i + token.scalars.count <= text.count {
                if text[i..<(i + token.scalars.count)].elementsEqual(token.scalars) {
                    matched = (token.scalars.count, token.id)  // tokens are sorted longest first
                    break
                }
            }
            if let matched {
                if textStart < i { segments.append(.text(Array(text[textStart..<i]))) }
                segments.append(.token(matched.id))
                i += matched.length
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < text.count { segments.append(.text(Array(text[textStart...]))) }
        return segments
    }
}
