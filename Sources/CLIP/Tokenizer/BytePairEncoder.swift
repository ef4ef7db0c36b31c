import Foundation

/// Byte-level BPE with CLIP's `</w>` end-of-word suffix (tokenizers' `BPE(end_of_word_suffix="</w>")`,
/// OpenAI CLIP simple_tokenizer.py `bpe`): each piece's UTF-8 bytes become GPT-2 byte characters, the
/// last one carries `</w>`, then the adjacent pair with the lowest merge rank is merged until none is left.
// @unchecked Sendable: every stored property is a `let` except `cache`, read and written only under `cacheLock`.
final class BytePairEncoder: @unchecked Sendable {
    /// GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the other 68 to U+0100 onwards.
    static let byteToCharacter: [Unicode.Scalar] = {
        var printable = Set<Int>()
        for range in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { printable.formUnion(range) }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next = 0
        for byte in 0..<256 {
            if printable.contains(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(UInt32(256 + next))!
                next += 1
            }
        }
        return table
    }()

    static let characterToByte: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (byte, character) in byteToCharacter.enumerated() { map[character] = UInt8(byte) }
        return map
    }()

    static let endOfWord = "</w>"

    /// Vocabulary ids of the 256 byte characters, alone and with `</w>`.
    private let byteIds: [Int32]
    private let finalByteIds: [Int32]
    /// (left id << 32 | right id) -> (rank, merged id).
    private let mergeTable: [UInt64: (rank: Int32, merged: Int32)]
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private let cacheLimit = 100_000

    /// `vocab` must hold every byte character with and without `</w>` and every merge result;
    /// errors name `vocabFile` / `mergesFile`.
    init(vocab: [String: Int], merges: [(String, String)], vocabFile: String, mergesFile: String) throws {
        var single: [Int32] = []
        var final: [Int32] = []
        for character in BytePairEncoder.byteToCharacter {
            let plain = String(Character(character))
            guard let a = vocab[plain], let b = vocab[plain + BytePairEncoder.endOfWord] else {
                throw CLIPTokenizerError(
                    file: vocabFile,
                    reason: "byte token \"\(plain)\" or \"\(plain)</w>\" is not in the vocabulary (not a byte-level CLIP vocabulary)")
            }
            single.append(Int32(a))
            final.append(Int32(b))
        }
        byteIds = single
        finalByteIds = final
        var table: [UInt64: (rank: Int32, merged: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let l = vocab[left], let r = vocab[right] else {
                throw CLIPTokenizerError(
                    file: mergesFile,
                    reason: "merge \(rank + 1) \"\(left) \(right)\": token \"\(vocab[left] == nil ? left : right)\" is not in the vocabulary")
            }
            guard let m = vocab[left + right] else {
                throw CLIPTokenizerError(
                    file: mergesFile,
                    reason: "merge \(rank + 1) \"\(left) \(right)\": merged token \"\(left + right)\" is not in the vocabulary")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil { table[key] = (Int32(rank), Int32(m)) }
        }
        mergeTable = table
    }

    /// Token ids for one pre-tokenised piece.
    func encode(piece: String) -> [Int32] {
        cacheLock.lock()
        if let hit = cache[piece] {
            cacheLock.unlock()
            return hit
        }
        cacheLock.unlock()
        let bytes = Array(piece.utf8)
        guard !bytes.isEmpty else { return [] }
        var symbols = bytes.map { byteIds[Int($0)] }
        symbols[symbols.count - 1] = finalByteIds[Int(bytes[bytes.count - 1])]
        while symbols.count > 1 {
            var bestRank = Int32.max
            var bestMerged: Int32 = 0
            var bestLeft: Int32 = 0
            var bestRight: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let entry = mergeTable[key], entry.rank < bestRank {
                    bestRank = entry.rank
                    bestMerged = entry.merged
                    bestLeft = symbols[i]
                    bestRight = symbols[i + 1]
                }
            }
            if bestRank == Int32.max { break }
            // Merge every non-overlapping occurrence of the best pair, left to right.
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count, symbols[i] == bestLeft, symbols[i + 1] == bestRight {
                    merged.append(bestMerged)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        cacheLock.lock()
        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[piece] = symbols
        cacheLock.unlock()
        return symbols
    }
}
