import CLIP
import Foundation
import XCTest
@testable import Toy

final class ToyVocabularyTests: XCTestCase {
    private func bundledTokenizer() throws -> CLIPTokenizer {
        try CLIPTokenizer(folder: try XCTUnwrap(ToyVocabulary.bundledFolder))
    }

    /// The committed tokenizer folder is exactly what the trainer writes today.
    func testBundledFolderMatchesTrainer() throws {
        let folder = try XCTUnwrap(ToyVocabulary.bundledFolder)
        for (name, contents) in ToyVocabulary.trained().files {
            let stored = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            XCTAssertEqual(stored, contents, name)
        }
    }

    /// Every caption word (training and held-out; punctuation is a word of its own) is one token, so
    /// no caption has unknown pieces and each fits in 16 ids.
    func testEveryCaptionTokenizesWordByWordWithinSixteenTokens() throws {
        let tokenizer = try bundledTokenizer()
        XCTAssertEqual(tokenizer.modelMaxLength, ToyVocabulary.maxLength)
        let vocabulary = ToyVocabulary.trained()
        XCTAssertEqual(tokenizer.vocabularySize, vocabulary.tokens.count)
        for word in ToyCaption.words() {
            XCTAssertEqual(tokenizer.tokenize(word).count, 3, "'\(word)' is not a single token")
        }
        XCTAssertTrue(ToyCaption.words().contains(","))
        XCTAssertTrue(ToyCaption.words().contains("texture"), "held-out words are in the vocabulary")
        let captions = ToyCaption.vocabularyCaptions()
        XCTAssertEqual(captions.count, ToyCaption.allCaptions().count + ToyCaption.allHeldOutCaptions().count)
        var longest = 0
        for caption in captions {
            let ids = tokenizer.tokenize(caption)
            longest = max(longest, ids.count)
            XCTAssertEqual(ids.count, ToyCaption.pieces(caption).count + 2, caption)
            XCTAssertLessThanOrEqual(ids.count, ToyVocabulary.maxLength, caption)
            XCTAssertEqual(ids.first, tokenizer.bosTokenId)
            XCTAssertEqual(ids.last, tokenizer.eosTokenId)
            XCTAssertEqual(tokenizer.decode(ids).replacingOccurrences(of: " ,", with: ","), caption)
            XCTAssertEqual(tokenizer.encode(caption).count, ToyVocabulary.maxLength)
        }
        // "a drawing of a {colour} {shape} on a dark background" with BOS and EOS.
        XCTAssertEqual(longest, 12)
        XCTAssertEqual(tokenizer.bosTokenId, vocabulary.tokens.count - 2)
        XCTAssertEqual(tokenizer.eosTokenId, vocabulary.tokens.count - 1)
    }

    private struct Fixture: Decodable {
        let captions: [String]
        let ids: [[Int]]
        let padded: [[Int]]
    }

    func testPiecesSplitLikeCLIP() {
        XCTAssertEqual(ToyCaption.pieces("red arrow, outlined texture"), ["red", "arrow", ",", "outlined", "texture"])
        XCTAssertEqual(ToyCaption.pieces("  a  b,,c "), ["a", "b", ",,", "c"])
        XCTAssertEqual(ToyCaption.pieces(""), [])
        XCTAssertEqual(ToyCaption.parse("circle, striped texture").shape, 0)
        XCTAssertEqual(ToyCaption.parse("circle, striped texture").style, 1)
    }

    /// Ids agree with transformers' CLIPTokenizer on the covering caption set (fixture by
    /// scripts/toy_tokenizer_fixture.py from the committed folder; exact integer equality).
    func testIdsMatchTransformers() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "toy-tokenizer-ids", withExtension: "json", subdirectory: "Resources"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertEqual(fixture.captions, ToyCaption.coveringCaptions(), "fixture captions are stale: rerun the script")
        let tokenizer = try bundledTokenizer()
        for (i, caption) in fixture.captions.enumerated() {
            XCTAssertEqual(tokenizer.tokenize(caption), fixture.ids[i], caption)
            XCTAssertEqual(tokenizer.encode(caption, maxLength: 16), fixture.padded[i], caption)
        }
    }
}
