import XCTest
@testable import CLIP

/// Compares `CLIPTokenizer` with transformers 5.x `CLIPTokenizer` ids in Resources/tokenizer-fixtures.json
/// (scripts/make_tokenizer_fixtures.py; 648 prompts, exact integer equality, no tolerance).
final class TokenizerTests: XCTestCase {
    static let resources: URL = Bundle.module.url(forResource: "Resources", withExtension: nil)!
    static let clipFolder = CLIPTokenizer.bundledStableDiffusion1Folder
    static let fixtureData = try! Data(contentsOf: resources.appendingPathComponent("tokenizer-fixtures.json"))
    /// Parsed on each use: a `[String: Any]` value is not `Sendable`, so it cannot be a stored global.
    static var fixture: [String: Any] { try! JSONSerialization.jsonObject(with: fixtureData) as! [String: Any] }
    static let clip: CLIPTokenizer = try! CLIPTokenizer(folder: clipFolder)

    private func ints(_ value: Any?) -> [Int] { (value as! [Any]).map { ($0 as! NSNumber).intValue } }
    private func int(_ value: Any?) -> Int { (value as! NSNumber).intValue }
    private var prompts: [[String: Any]] { TokenizerTests.fixture["prompts"] as! [[String: Any]] }

    private func makeTemporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testSpecialTokenIdsAndSizes() {
        let tok = TokenizerTests.clip
        let f = TokenizerTests.fixture
        XCTAssertEqual(tok.bosTokenId, int(f["bos"]))
        XCTAssertEqual(tok.eosTokenId, int(f["eos"]))
        XCTAssertEqual(tok.padTokenId, int(f["pad"]))
        XCTAssertEqual(tok.vocabularySize, int(f["vocab_size"]))
        XCTAssertEqual(tok.modelMaxLength, int(f["max_length"]))
        XCTAssertEqual([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.vocabularySize], [49406, 49407, 49407, 49408])
    }

    func testEveryFixturePromptMatchesTransformers() {
        let tok = TokenizerTests.clip
        XCTAssertGreaterThanOrEqual(prompts.count, 500)
        var failures = 0
        for row in prompts {
            let text = row["text"] as! String
            let expected = ints(row["ids"])
            let padded = ints(row["padded_head"]) + Array(repeating: tok.padTokenId, count: int(row["padded_pad"]))
            XCTAssertEqual(padded.count, 77)
            let raw = tok.tokenize(text)
            let encoded = tok.encode(text)
            if raw != expected || encoded != padded {
                failures += 1
                if failures <= 10 {
                    XCTFail("\(text.debugDescription): tokenize \(raw) vs \(expected); encode \(encoded) vs \(padded)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "prompts whose ids differ from transformers")
    }

    func testDecodeMatchesTransformers() {
        let tok = TokenizerTests.clip
        var failures = 0
        for row in prompts {
            let decoded = tok.decode(ints(row["ids"]))
            if decoded != row["decoded"] as! String {
                failures += 1
                if failures <= 10 {
                    XCTFail(
                        "\((row["text"] as! String).debugDescription): \(decoded.debugDescription) vs \((row["decoded"] as! String).debugDescription)"
                    )
                }
            }
        }
        XCTAssertEqual(failures, 0)
    }

    func testDecodeRoundTripsPlainASCIIPrompts() {
        let tok = TokenizerTests.clip
        var checked = 0
        for row in prompts {
            // Plain prompts: lowercase ASCII words separated by single spaces survive encode -> decode.
            let text = row["text"] as! String
            guard text.unicodeScalars.allSatisfy({ $0.isASCII }) else { continue }
            let words = text.lowercased().split(separator: " ")
            guard !words.isEmpty, words.allSatisfy({ $0.allSatisfy { $0 >= "a" && $0 <= "z" } }) else { continue }
            let plain = words.joined(separator: " ")
            XCTAssertEqual(tok.decode(tok.tokenize(plain)), plain)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 5)
        XCTAssertEqual(tok.decode(tok.encode("A Photo of a cat")), "a photo of a cat")
        XCTAssertEqual(tok.decode(tok.tokenize("it's"), skipSpecialTokens: false), "<|startoftext|>it 's <|endoftext|>")
    }

    func testSpecialTokenConfigurationsMatchTransformers() throws {
        for variant in TokenizerTests.fixture["variants"] as! [[String: Any]] {
            let name = variant["name"] as! String
            let folder = try makeTemporaryFolder()
            for file in ["vocab.json", "merges.txt"] {
                try FileManager.default.createSymbolicLink(
                    at: folder.appendingPathComponent(file), withDestinationURL: TokenizerTests.clipFolder.appendingPathComponent(file))
            }
            for (key, file) in [("special_tokens_map", "special_tokens_map.json"), ("tokenizer_config", "tokenizer_config.json")] {
                if let object = variant[key], !(object is NSNull) {
                    try JSONSerialization.data(withJSONObject: object).write(to: folder.appendingPathComponent(file))
                }
            }
            let tok = try CLIPTokenizer(folder: folder)
            XCTAssertEqual(tok.bosTokenId, int(variant["bos"]), name)
            XCTAssertEqual(tok.eosTokenId, int(variant["eos"]), name)
            XCTAssertEqual(tok.padTokenId, int(variant["pad"]), name)
            XCTAssertEqual(tok.modelMaxLength, int(variant["max_length"]), name)
            for row in variant["prompts"] as! [[String: Any]] {
                let text = row["text"] as! String
                XCTAssertEqual(tok.tokenize(text), ints(row["ids"]), "\(name): \(text.debugDescription)")
                XCTAssertEqual(tok.encode(text), ints(row["padded"]), "\(name): \(text.debugDescription)")
            }
        }
    }

    func testTokenizerJSONGivesSameIdsAsVocabAndMerges() throws {
        let small = TokenizerTests.fixture["small_bpe"] as! [String: Any]
        let smallFolder = TokenizerTests.resources.appendingPathComponent("small-bpe")
        let fromFiles = try CLIPTokenizer(folder: smallFolder)
        let jsonURL = smallFolder.appendingPathComponent("json/tokenizer.json")
        let fromPairs = try CLIPTokenizer(folder: jsonURL.deletingLastPathComponent())
        // The same tokenizer.json with merges written as "a b" strings (the older tokenizers format).
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL)) as! [String: Any]
        var model = root["model"] as! [String: Any]
        model["merges"] = (model["merges"] as! [[String]]).map { "\($0[0]) \($0[1])" }
        root["model"] = model
        let stringFolder = try makeTemporaryFolder()
        try JSONSerialization.data(withJSONObject: root).write(to: stringFolder.appendingPathComponent("tokenizer.json"))
        let fromStrings = try CLIPTokenizer(folder: stringFolder)

        for tok in [fromFiles, fromPairs, fromStrings] {
            XCTAssertEqual(tok.bosTokenId, int(small["bos"]))
            XCTAssertEqual(tok.eosTokenId, int(small["eos"]))
            XCTAssertEqual(tok.vocabularySize, int(small["vocab_size"]))
        }
        let rows = small["prompts"] as! [[String: Any]]
        XCTAssertGreaterThan(rows.count, 100)
        for row in rows {
            let text = row["text"] as! String
            let expected = ints(row["ids"])
            XCTAssertEqual(fromFiles.tokenize(text), expected, text.debugDescription)
            XCTAssertEqual(fromPairs.tokenize(text), expected, text.debugDescription)
            XCTAssertEqual(fromStrings.tokenize(text), expected, text.debugDescription)
        }
    }

    func testVocabAndMergesURLInitialiserUsesCLIPDefaults() throws {
        let folder = TokenizerTests.clipFolder
        let tok = try CLIPTokenizer(
            vocabURL: folder.appendingPathComponent("vocab.json"),
            mergesURL: folder.appendingPathComponent("merges.txt"))
        XCTAssertEqual([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.modelMaxLength], [49406, 49407, 49407, 77])
        for row in prompts.prefix(150) {
            let text = row["text"] as! String
            guard !text.lowercased().contains("<|") else { continue }  // added-token flags differ from the folder's
            XCTAssertEqual(tok.tokenize(text), ints(row["ids"]), text.debugDescription)
        }
        XCTAssertEqual(tok.encode("a photo of a cat", maxLength: 8), [49406, 320, 1125, 539, 320, 2368, 49407, 49407])
        XCTAssertEqual(tok.encode("a photo of a cat", maxLength: 4), [49406, 320, 1125, 49407])
    }

    // MARK: malformed files

    private func assertError(_ folder: URL, file: String, reason: String, line: UInt = #line) {
        XCTAssertThrowsError(try CLIPTokenizer(folder: folder), line: line) { error in
            guard let error = error as? CLIPTokenizerError else { return XCTFail("unexpected \(error)", line: line) }
            XCTAssertTrue(error.file.hasSuffix(file), "\(error)", line: line)
            XCTAssertTrue(error.reason.contains(reason), "\(error)", line: line)
        }
    }

    private func folder(vocab: String?, merges: String?, extra: [String: String] = [:]) throws -> URL {
        let url = try makeTemporaryFolder()
        if let vocab { try vocab.write(to: url.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8) }
        if let merges { try merges.write(to: url.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8) }
        for (name, text) in extra { try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return url
    }

    func testMalformedFilesThrowNamedErrors() throws {
        let vocab = try String(contentsOf: TokenizerTests.clipFolder.appendingPathComponent("vocab.json"), encoding: .utf8)
        let merges = try String(contentsOf: TokenizerTests.clipFolder.appendingPathComponent("merges.txt"), encoding: .utf8)
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-tokenizer-\(UUID().uuidString)")
        assertError(missing, file: missing.lastPathComponent, reason: "not found")
        assertError(try folder(vocab: nil, merges: nil), file: "", reason: "expected vocab.json + merges.txt or tokenizer.json")
        assertError(try folder(vocab: vocab, merges: nil), file: "merges.txt", reason: "file not found")
        assertError(try folder(vocab: "{\"a\": 1,", merges: merges), file: "vocab.json", reason: "invalid JSON")
        assertError(try folder(vocab: "[1, 2]", merges: merges), file: "vocab.json", reason: "expected a JSON object")
        assertError(try folder(vocab: "{\"a\": \"x\"}", merges: merges), file: "vocab.json", reason: "\"a\" has id \"x\"")
        assertError(try folder(vocab: "{\"a\": 0}", merges: "#version: 0.2\n"), file: "vocab.json", reason: "is not in the vocabulary")
        assertError(
            try folder(vocab: vocab, merges: "#version: 0.2\ni n\nt h e\n"), file: "merges.txt",
            reason: "line 3: expected two space-separated tokens, found \"t h e\"")
        assertError(
            try folder(vocab: vocab, merges: "#version: 0.2\ni n\nqqqzzz x\n"), file: "merges.txt",
            reason: "merge 2 \"qqqzzz x\": token \"qqqzzz\" is not in the vocabulary")
        assertError(
            try folder(vocab: vocab, merges: "#version: 0.2\nz q\n"), file: "merges.txt",
            reason: "merged token \"zq\" is not in the vocabulary")
        assertError(
            try folder(vocab: vocab, merges: merges, extra: ["tokenizer_config.json": "{model_max_length: 77}"]),
            file: "tokenizer_config.json", reason: "invalid JSON")
        assertError(
            try folder(vocab: vocab, merges: merges, extra: ["special_tokens_map.json": "{\"pad_token\": 5}"]),
            file: "special_tokens_map.json", reason: "special token must be a string")
        assertError(
            try folder(vocab: nil, merges: nil, extra: ["tokenizer.json": "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}"]),
            file: "tokenizer.json", reason: "missing array \"model.merges\"")
        assertError(
            try folder(vocab: nil, merges: nil, extra: ["tokenizer.json": "{\"model\": {\"vocab\": {}, \"merges\": [[\"a\"]]}}"]),
            file: "tokenizer.json", reason: "model.merges[0]")
        assertError(
            try folder(vocab: nil, merges: nil, extra: ["tokenizer.json": "{\"model\": {\"type\": \"WordPiece\"}}"]),
            file: "tokenizer.json", reason: "expected \"BPE\"")
    }

    func testTokenizingThousandsOfPromptsIsFast() {
        let tok = TokenizerTests.clip
        let texts = prompts.map { $0["text"] as! String }
        let start = Date()
        var total = 0
        for _ in 0..<5 { for text in texts { total += tok.encode(text).count } }
        XCTAssertEqual(total, texts.count * 5 * 77)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "tokenizing \(texts.count * 5) prompts")
    }
}
