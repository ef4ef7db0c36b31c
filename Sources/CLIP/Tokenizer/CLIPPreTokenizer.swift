import Foundation

/// CLIP's text normalisation and pre-tokenisation, matching what transformers 5.x's `CLIPTokenizer`
/// (models/clip/tokenization_clip.py, a `tokenizers` backend; transformers 5 has no slow/ftfy path) does:
///
/// 1. normalizer: `NFC()`, `Replace(Regex(r"\s+"), " ")`, `Lowercase()` (per-scalar full lowercase
///    mapping, no final-sigma context). There is no ftfy fix-up, no HTML unescape and no strip: the old
///    Python `basic_clean` / `whitespace_clean` path of transformers 4.x is gone; leading and trailing
///    spaces disappear in step 2 because the split keeps only regex matches.
/// 2. `Split(<CLIP regex>, behavior="removed", invert=True)` with
///    `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`.
/// 3. `ByteLevel(add_prefix_space=False)`, whose GPT-2 regex splits each piece again; the only pieces
///    it changes are the literal special tokens ("<|endoftext|>" -> "<|", "endoftext", "|>").
///
/// The regexes run in Oniguruma (tokenizers' `Regex`), so `\s` is U+0009...U+000D, U+0085 and the
/// categories Zs, Zl, Zp -- not Python `regex`'s `\s` (which also has U+001C...U+001F).
/// `\p{L}` is categories Lu Ll Lt Lm Lo and `\p{N}` is Nd Nl No.
enum CLIPPreTokenizer {
    /// Oniguruma's Unicode `\s`.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        if v == 0x85 { return true }
        switch scalar.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// `\p{L}`.
    @inline(__always)
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (v >= 0x61 && v <= 0x7A) || (v >= 0x41 && v <= 0x5A) }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`.
    @inline(__always)
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// NFC, every whitespace run -> one " ", then lowercase.
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        // Text with no scalar >= U+0300 has no combining marks or jamo, so it is already NFC.
        let needsNFC = text.unicodeScalars.contains { $0.value >= 0x300 }
        let composed = needsNFC ? text.precomposedStringWithCanonicalMapping : text
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(composed.unicodeScalars.count)
        var inWhitespace = false
        for scalar in composed.unicodeScalars {
            if isWhitespace(scalar) {
                if !inWhitespace { out.append(" ") }
                inWhitespace = true
                continue
            }
            inWhitespace = false
            let v = scalar.value
            if v < 0x80 {
                out.append((v >= 0x41 && v <= 0x5A) ? Unicode.Scalar(v + 0x20)! : scalar)
            } else if scalar.properties.changesWhenLowercased {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    private static let specialLiterals: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }
    private static let contractions: [[Unicode.Scalar]] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }

    /// Splits normalised text into the pieces that BPE sees (each later gets its own `</w>`).
    static func pieces(_ s: [Unicode.Scalar]) -> [String] {
        var result: [String] = []
        var i = 0
        let n = s.count
        func hasPrefix(_ literal: [Unicode.Scalar], at start: Int) -> Bool {
            guard start + literal.count <= n else { return false }
            for k in 0..<literal.count where s[start + k] != literal[k] { return false }
            return true
        }
        func emit(_ start: Int, _ end: Int) {
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: s[start..<end])
            result.append(String(piece))
        }
        scan: while i < n {
            let c = s[i]
            if isWhitespace(c) {
                i += 1
                continue
            }
            if c == "<" {
                for literal in specialLiterals where hasPrefix(literal, at: i) {
                    // ByteLevel's GPT-2 regex re-splits the literal into "<|", name, "|>".
                    emit(i, i + 2)
                    emit(i + 2, i + literal.count - 2)
                    emit(i + literal.count - 2, i + literal.count)
                    i += literal.count
                    continue scan
                }
            }
            if c == "'" {
                for literal in contractions where hasPrefix(literal, at: i) {
                    emit(i, i + literal.count)
                    i += literal.count
                    continue scan
                }
            }
            let start = i
            if isLetter(c) {
                i += 1
                while i < n, isLetter(s[i]) { i += 1 }
            } else if isNumber(c) {
                i += 1
            } else {
                i += 1
                while i < n, !isWhitespace(s[i]), !isLetter(s[i]), !isNumber(s[i]) { i += 1 }
            }
            emit(start, i)
        }
        return result
    }
}
