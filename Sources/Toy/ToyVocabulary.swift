import Foundation
import ImageIO

/// A tiny byte-level BPE vocabulary for the toy text encoder, in CLIP's file format (SD1.x hub tokenizer
/// folder: vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json).
///
/// Training follows Sennrich et al. 2016 (the `learn_bpe` loop): words of all toy captions (the data
/// set's and the held-out templates', split as CLIP's pre-tokenizer splits them), weighted by
/// how often they occur, start as characters with "</w>" on the last one; the most frequent adjacent pair
/// (ties: the lexicographically smallest "left right") is merged until every word is a single token.
/// The vocabulary is then laid out like CLIP's (openai/CLIP simple_tokenizer.py): the 256 byte symbols,
/// the same with "</w>", one token per merge in merge order, then <|startoftext|> and <|endoftext|>.
public struct ToyVocabulary: Equatable, Sendable {
    /// Merges in rank order, e.g. ("c", "i").
    public let merges: [(String, String)]
    /// Token strings in id order.
    public let tokens: [String]

    public static let startOfText = "<|startoftext|>"
    public static let endOfText = "<|endoftext|>"
    /// Maximum tokens per caption including BOS and EOS (the toy text encoder's context length).
    public static let maxLength = 16

    public static func == (a: ToyVocabulary, b: ToyVocabulary) -> Bool {
        a.tokens == b.tokens && a.merges.map { $0.0 + " " + $0.1 } == b.merges.map { $0.0 + " " + $0.1 }
    }

    /// Trains on the words of every toy caption, training and held-out (`ToyCaption.vocabularyCaptions()`).
    public static func trained() -> ToyVocabulary { train(captions: ToyCaption.vocabularyCaptions()) }

    /// Trains on the words of `captions` (lower-case ASCII letters and punctuation only), split into
    /// `ToyCaption.pieces`.
    public static func train(captions: [String]) -> ToyVocabulary {
        var counts: [String: Int] = [:]
        for caption in captions {
            for word in ToyCaption.pieces(caption) { counts[word, default: 0] += 1 }
        }
        // Each word as its symbol sequence, in sorted word order for determinism.
        var words: [(symbols: [String], count: Int)] = counts.keys.sorted().map { word in
            var symbols = word.map { String($0) }
            symbols[symbols.count - 1] += "</w>"
            return (symbols, counts[word]!)
        }
        var merges: [(String, String)] = []
        while words.contains(where: { $0.symbols.count > 1 }) {
            var pairCounts: [String: (left: String, right: String, count: Int)] = [:]
            for w in words where w.symbols.count > 1 {
                for i in 0..<(w.symbols.count - 1) {
                    let key = w.symbols[i] + " " + w.symbols[i + 1]
                    pairCounts[key, default: (w.symbols[i], w.symbols[i + 1], 0)].count += w.count
                }
            }
            let best = pairCounts.max { a, b in a.value.count != b.value.count ? a.value.count < b.value.count : a.key > b.key }!
            let (left, right) = (best.value.left, best.value.right)
            merges.append((left, right))
            for k in words.indices {
                var s = words[k].symbols
                var out: [String] = []
                var i = 0
                while i < s.count {
                    if i + 1 < s.count, s[i] == left, s[i + 1] == right {
                        out.append(left + right)
                        i += 2
                    } else {
                        out.append(s[i])
                        i += 1
                    }
                }
                s = out
                words[k].symbols = s
            }
        }
        let bytes = byteSymbols()
        let tokens = bytes + bytes.map { $0 + "</w>" } + merges.map { $0.0 + $0.1 } + [startOfText, endOfText]
        return ToyVocabulary(merges: merges, tokens: tokens)
    }

    /// GPT-2 / CLIP `bytes_to_unicode` symbols in CLIP's vocabulary order: the printable Latin-1 bytes
    /// as themselves ("!"..."~", "¡"..."¬", "®"..."ÿ"), then the remaining bytes as U+0100 onwards.
    static func byteSymbols() -> [String] {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        let set = Set(printable)
        var symbols = printable.map { String(UnicodeScalar(UInt8($0))) }
        var extra = 0
        for b in 0..<256 where !set.contains(b) {
            symbols.append(String(Character(UnicodeScalar(UInt32(256 + extra))!)))
            extra += 1
        }
        return symbols
    }

    // MARK: Files

    /// vocab.json: token -> id, one entry per line in id order.
    public var vocabJSON: String {
        "{" + tokens.enumerated().map { "\(Self.jsonString($1)): \($0)" }.joined(separator: ",\n") + "}\n"
    }

    /// merges.txt with the "#version: 0.2" header line that CLIP's loaders skip.
    public var mergesText: String {
        "#version: 0.2\n" + merges.map { $0.0 + " " + $0.1 + "\n" }.joined()
    }

    static func specialToken(_ content: String, type: Bool) -> String {
        """
        {
            "content": \(jsonString(content)),
            "lstrip": false,
            "normalized": true,
            "rstrip": false,
            "single_word": false\(type ? ",\n    \"__type\": \"AddedToken\"" : "")
          }
        """
    }

    /// tokenizer_config.json as in SD1.x's tokenizer folder, with model_max_length 16.
    public var tokenizerConfigJSON: String {
        """
        {
          "add_prefix_space": false,
          "bos_token": \(Self.specialToken(Self.startOfText, type: true)),
          "do_lower_case": true,
          "eos_token": \(Self.specialToken(Self.endOfText, type: true)),
          "errors": "replace",
          "model_max_length": \(Self.maxLength),
          "pad_token": "\(Self.endOfText)",
          "tokenizer_class": "CLIPTokenizer",
          "unk_token": \(Self.specialToken(Self.endOfText, type: true))
        }

        """
    }

    /// special_tokens_map.json as in SD1.x's tokenizer folder.
    public var specialTokensMapJSON: String {
        """
        {
          "bos_token": \(Self.specialToken(Self.startOfText, type: false)),
          "eos_token": \(Self.specialToken(Self.endOfText, type: false)),
          "pad_token": "\(Self.endOfText)",
          "unk_token": \(Self.specialToken(Self.endOfText, type: false))
        }

        """
    }

    /// The four files by name.
    public var files: [(name: String, contents: String)] {
        [
            ("vocab.json", vocabJSON), ("merges.txt", mergesText),
            ("tokenizer_config.json", tokenizerConfigJSON), ("special_tokens_map.json", specialTokensMapJSON)
        ]
    }

    /// Writes the tokenizer folder (created if needed; each file written atomically).
    public func write(folder: String) throws {
        if let reason = Self.makeFolder(folder) { throw ToyError("\(folder): cannot create the tokenizer folder: \(reason)") }
        for (name, contents) in files { try AtomicFile.write(contents, to: folder + "/" + name) }
    }

    /// mkdir -p with mkdir(2); nil on success, else the POSIX reason (not Foundation's wording).
    static func makeFolder(_ path: String) -> String? {
        var info = stat()
        if stat(path, &info) == 0 { return (info.st_mode & S_IFMT) == S_IFDIR ? nil : "\(path) exists and is not a folder" }
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return nil }
        guard errno == ENOENT else { return String(cString: strerror(errno)) }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard parent != path, parent != "/" else { return String(cString: strerror(ENOENT)) }
        if let reason = makeFolder(parent) { return reason }
        return mkdir(path, 0o755) == 0 || errno == EEXIST ? nil : String(cString: strerror(errno))
    }

    /// The committed tokenizer folder in the Toy resource bundle (equal to `trained()`'s files).
    public static var bundledFolder: URL? {
        Bundle.module.url(forResource: "tokenizer", withExtension: nil, subdirectory: "Resources")
    }

    /// A JSON string literal (quotes, backslash and control characters escaped).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
