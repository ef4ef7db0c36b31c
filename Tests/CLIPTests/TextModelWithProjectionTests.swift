import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

@testable import CLIP

/// `CLIPTextModelWithProjection` (SDXL's `text_encoder_2`) against transformers 5.x on a tiny
/// random-weight model (Resources/tiny-text-encoders/projection, scripts/make_clip_text_projection_fixtures.py):
/// hidden 32, 3 layers, gelu, eos_token_id 2 (argmax pooling), projection_dim 24, ids from the small
/// BPE padded with "!" (id 0) as SDXL's second tokenizer. References in float64; tolerance
/// max abs error <= 1e-4 · max |ref|.
final class TextModelWithProjectionTests: XCTestCase {
    static let folder = TextModelTests.encoders.appendingPathComponent("projection")

    static func reference() throws -> (FixtureFile, [String], [[Int]]) {
        let file = try FixtureFile(path: TextModelTests.encoders.appendingPathComponent("projection-reference.safetensors").path)
        let prompts = try JSONDecoder().decode([String].self, from: Data(try XCTUnwrap(file.metadata["prompts"]).utf8))
        let idTensor = try file.tensor("input_ids")
        let (rows, length) = (idTensor.shape[0], idTensor.shape[1])
        let ids = (0..<rows).map { r in (0..<length).map { Int(idTensor.pointer[r * length + $0]) } }
        return (file, prompts, ids)
    }

    func testProjectedPooledAndPenultimateStatesMatchTransformers() throws {
        let model = try CLIPTextModelWithProjection.load(folder: Self.folder)
        XCTAssertEqual(model.projectionDimension, 24)
        XCTAssertNil(model.text_projection.bias)
        let (ref, _, ids) = try Self.reference()
        let out = GradMode.withNoGrad { model(ids, outputHiddenStates: true) }
        assertClose(out.textEmbeds, try ref.tensor("text_embeds"), rtol: 1e-4, "text_embeds")
        assertClose(out.text.lastHiddenState, try ref.tensor("last_hidden_state"), rtol: 1e-4, "last_hidden_state")
        let penultimate = try XCTUnwrap(out.text.penultimateHiddenState)
        assertClose(penultimate, try ref.tensor("penultimate"), rtol: 1e-4, "hidden_states[-2]")
        XCTAssertNil(model(ids).text.penultimateHiddenState, "hidden states were not requested")
    }

    /// SDXL's second tokenizer pads with "!" (id 0, an added special token, so a "!" in the prompt is
    /// id 0 too); the EOS is then the largest id of a row, the position the legacy rule
    /// (eos_token_id 2) pools.
    func testTokenizerPaddedWithExclamationMarkGivesFixtureIds() throws {
        let tokenizer = try CLIPTokenizer(folder: TextModelTests.encoders.appendingPathComponent("projection-tokenizer"))
        XCTAssertEqual(tokenizer.padTokenId, 0)
        let (_, prompts, ids) = try Self.reference()
        XCTAssertTrue(prompts.contains { $0.contains("!") })
        let model = try CLIPTextModelWithProjection.load(folder: Self.folder)
        for (prompt, row) in zip(prompts, ids) {
            XCTAssertEqual(tokenizer.encode(prompt), row, prompt)
            XCTAssertEqual(model.text_model.pooledPosition(row), row.firstIndex(of: tokenizer.eosTokenId), prompt)
        }
    }

    func testKeysEqualTransformersStateDict() throws {
        let config = Self.folder.appendingPathComponent("config.json")
        let model = CLIPTextModelWithProjection(
            configuration: try CLIPTextConfiguration.load(from: config),
            projectionDimension: try CLIPTextModelWithProjection.projectionDimension(configFile: config))
        let keys = try SafeTensorsFile(path: Self.folder.appendingPathComponent("model.safetensors").path).keys
        XCTAssertEqual(Set(model.namedParameters().map(\.0)), Set(keys))
        XCTAssertTrue(keys.contains("text_projection.weight"))
    }

    /// transformers 5.x may write the keys without `text_model.`; the loader accepts both layouts.
    func testLoadsKeysWithoutTextModelPrefix() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("projection-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Self.folder.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(path: Self.folder.appendingPathComponent("model.safetensors").path)
        var writer = SafeTensorsWriter()
        for key in file.keys {
            let info = try file.info(key)
            let values = Tensor(zeros: info.shape)
            try file.copyFloats(key, into: values.pointer, count: values.count)
            let name = key.hasPrefix("text_model.") ? String(key.dropFirst("text_model.".count)) : key
            try writer.add(name, shape: info.shape, floats: values.scalars)
        }
        try writer.write(to: dir.appendingPathComponent("model.safetensors").path)
        let (ref, _, ids) = try Self.reference()
        let model = try CLIPTextModelWithProjection.load(folder: dir)
        assertClose(GradMode.withNoGrad { model(ids).textEmbeds }, try ref.tensor("text_embeds"), rtol: 1e-4, "text_embeds")
    }
}
