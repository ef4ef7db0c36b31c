import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest
@testable import CLIP

/// Compares `CLIPTextModel` with transformers 5.x `CLIPTextModel` on two tiny random-weight models in
/// Resources/tiny-text-encoders (scripts/make_clip_text_fixtures.py, ~1.16 MB in all):
///   quick   hidden 32, 2 layers, 4 heads, quick_gelu, first-EOS pooling, fp32, transformers 5.x key layout
///   legacy  hidden 48, 3 layers, 3 heads, gelu, eos_token_id 2 (argmax pooling), eps 1e-6, fp16 weights,
///           SD1.x key layout (`text_model.` prefix + `position_ids` buffer)
/// References were computed in float64 from the stored weights; tolerance: max abs error <= 1e-4 · max |ref|
/// (measured: ~4e-7 relative for both models).
final class TextModelTests: XCTestCase {
    static let resources: URL = Bundle.module.url(forResource: "Resources", withExtension: nil)!
    static let encoders = resources.appendingPathComponent("tiny-text-encoders")
    static let tokenizer: CLIPTokenizer = try! CLIPTokenizer(folder: resources.appendingPathComponent("small-bpe"))

    struct Reference {
        let prompts: [String]
        let ids: [[Int]]
        let lastHiddenState: Tensor
        let pooled: Tensor
        let hiddenIndex: Int
        let hiddenState: Tensor
    }

    static func reference(_ name: String) throws -> Reference {
        let file = try FixtureFile(path: encoders.appendingPathComponent("\(name)-reference.safetensors").path)
        let prompts = try JSONDecoder().decode([String].self, from: Data(file.metadata["prompts"]!.utf8))
        let hiddenIndex = Int(file.metadata["hidden_index"]!)!
        let idTensor = try file.tensor("input_ids")
        let (rows, length) = (idTensor.shape[0], idTensor.shape[1])
        let ids = (0..<rows).map { r in (0..<length).map { Int(idTensor.pointer[r * length + $0]) } }
        return Reference(
            prompts: prompts, ids: ids, lastHiddenState: try file.tensor("last_hidden_state"),
            pooled: try file.tensor("pooled"), hiddenIndex: hiddenIndex,
            hiddenState: try file.tensor("hidden_state_\(hiddenIndex)"))
    }

    private func makeTemporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A copy of fixture folder `name` whose config.json is edited by `edit`.
    private func copyOfFolder(_ name: String, editingConfig edit: (inout [String: Any]) -> Void) throws -> URL {
        let folder = try makeTemporaryFolder()
        let source = TextModelTests.encoders.appendingPathComponent(name)
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("model.safetensors"),
            to: folder.appendingPathComponent("model.safetensors"))
        let data = try Data(contentsOf: source.appendingPathComponent("config.json"))
        var json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("config.json"))
        return folder
    }

    // MARK: Outputs against transformers

    func testSwiftTokenizerGivesFixtureIds() throws {
        for name in ["quick", "legacy"] {
            let ref = try TextModelTests.reference(name)
            XCTAssertEqual(ref.prompts.count, 8)
            XCTAssertTrue(ref.prompts.contains(""), "fixture should include an empty prompt")
            for (prompt, ids) in zip(ref.prompts, ref.ids) {
                XCTAssertEqual(TextModelTests.tokenizer.encode(prompt, maxLength: 77), ids, "\(name): \(prompt)")
            }
            // The overlong prompt fills all 77 positions (truncated, EOS last, no padding).
            XCTAssertTrue(ref.ids.contains { $0.last == TextModelTests.tokenizer.eosTokenId && $0[75] != TextModelTests.tokenizer.eosTokenId })
        }
    }

    private func checkAgainstReference(_ name: String) throws {
        let model = try CLIPTextModel.load(folder: TextModelTests.encoders.appendingPathComponent(name))
        let ref = try TextModelTests.reference(name)
        let out = GradMode.withNoGrad { model(ref.ids, outputHiddenStates: true) }
        assertClose(out.lastHiddenState, ref.lastHiddenState, rtol: 1e-4, "\(name) last_hidden_state")
        XCTAssertEqual(out.hiddenStates?.count, model.configuration.layerCount + 1)
        assertClose(out.hiddenStates![ref.hiddenIndex], ref.hiddenState, rtol: 1e-4, "\(name) hidden_states[\(ref.hiddenIndex)]")
        // Final layer norm of the last hidden state is the last_hidden_state (clip-skip 0).
        assertClose(model.text_model.final_layer_norm(out.hiddenStates!.last!), out.lastHiddenState, rtol: 1e-6, "\(name) final norm")
    }

    func testQuickGeluModelMatchesTransformers() throws { try checkAgainstReference("quick") }

    func testLegacyFP16ModelInSDLayoutMatchesTransformers() throws {
        let folder = TextModelTests.encoders.appendingPathComponent("legacy")
        let file = try SafeTensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(try file.info("text_model.final_layer_norm.weight").dtype, .f16)
        XCTAssertEqual(try CLIPTextConfiguration.load(from: folder.appendingPathComponent("config.json")).eosTokenId, 2)
        try checkAgainstReference("legacy")
    }

    func testParameterKeysEqualTheSDCheckpointKeys() throws {
        let folder = TextModelTests.encoders.appendingPathComponent("legacy")
        let file = try SafeTensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
        let model = CLIPTextModel(configuration: try CLIPTextConfiguration.load(from: folder.appendingPathComponent("config.json")))
        let keys = Set(model.namedParameters().map(\.0))
        XCTAssertEqual(keys, Set(file.keys).subtracting(["text_model.embeddings.position_ids"]))
        XCTAssertTrue(keys.contains("text_model.encoder.layers.2.self_attn.q_proj.weight"))
        XCTAssertTrue(keys.contains("text_model.encoder.layers.0.mlp.fc2.bias"))
        XCTAssertEqual(keys.count, 4 + 3 * 16)  // embeddings + final norm, 16 per layer
    }

    /// Causal attention: the states of the first n tokens do not depend on later ones.
    func testPrefixOfARowGivesTheSameStates() throws {
        let model = try CLIPTextModel.load(folder: TextModelTests.encoders.appendingPathComponent("quick"))
        let ref = try TextModelTests.reference("quick")
        let n = 9
        let out = GradMode.withNoGrad { model(ref.ids.map { Array($0.prefix(n)) }) }
        assertClose(out.lastHiddenState, ref.lastHiddenState.sliced(axis: 1, 0..<n), rtol: 1e-4, "prefix states")
    }

    // MARK: Gradients

    func testGradientsReachQProjAndTokenEmbedding() throws {
        let config = CLIPTextConfiguration(
            vocabularySize: 12, hiddenSize: 8, intermediateSize: 10, layerCount: 2,
            headCount: 2, maxPositionEmbeddings: 7, hiddenActivation: .quickGelu,
            bosTokenId: 10, eosTokenId: 11, padTokenId: 11)
        let model = CLIPTextModel(configuration: config)
        var rng = TestRNG(seed: 42)
        for (key, p) in model.namedParameters() {
            let values = rng.tensor(p.shape, -0.5, 0.5)
            for i in 0..<p.count { p.pointer[i] = (key.contains("layer_norm") && key.hasSuffix("weight") ? 1 : 0) + values.pointer[i] }
        }
        let ids = [[10, 3, 7, 1, 11, 11, 11], [10, 0, 2, 4, 5, 6, 11], [10, 8, 9, 11, 11, 11, 11]]
        let q = model.text_model.encoder.layers[1].self_attn.q_proj.weight
        let table = model.text_model.embeddings.token_embedding.weight
        checkGradients("CLIPTextModel", inputs: [q, table], eps: 1e-2, tolerance: 1e-2, maxChecksPerInput: 96) { _ in
            let out = model(ids)
            return Tensor.concat([out.lastHiddenState.reshaped([-1]) * 0.1, out.pooled.reshaped([-1])], axis: 0)
        }
    }

    /// Standard deviations after `initializeParameters` follow transformers' _init_weights formulas
    /// (sample std within 5% of the formula; a wrong formula is off by >= 2x for these shapes).
    func testInitializationFollowsTransformersDistributions() {
        let config = CLIPTextConfiguration(
            vocabularySize: 500, hiddenSize: 64, intermediateSize: 96, layerCount: 2,
            headCount: 4, maxPositionEmbeddings: 77)
        let model = CLIPTextModel(configuration: config)
        var generator = PyTorchGenerator(seed: 0)
        model.initializeParameters(generator: &generator)
        func std(_ t: Tensor) -> Float {
            let m = t.scalars.reduce(0, +) / Float(t.count)
            return (t.scalars.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(t.count)).squareRoot()
        }
        let layer = model.text_model.encoder.layers[1]
        let inProj = Float(pow(64.0, -0.5) * pow(4.0, -0.5))
        let expected: [(String, Tensor, Float)] = [
            ("token_embedding", model.text_model.embeddings.token_embedding.weight, 0.02),
            ("position_embedding", model.text_model.embeddings.position_embedding.weight, 0.02),
            ("q_proj", layer.self_attn.q_proj.weight, inProj),
            ("out_proj", layer.self_attn.out_proj.weight, Float(pow(64.0, -0.5))),
            ("fc1", layer.mlp.fc1.weight, Float(pow(128.0, -0.5))),
            ("fc2", layer.mlp.fc2.weight, inProj)
        ]
        for (name, t, s) in expected { XCTAssertEqual(std(t), s, accuracy: 0.05 * s, name) }
        XCTAssertEqual(layer.self_attn.k_proj.bias!.scalars, [Float](repeating: 0, count: 64))
        XCTAssertEqual(model.text_model.final_layer_norm.weight.scalars, [Float](repeating: 1, count: 64))
    }

    // MARK: Errors

    func testConfigThatContradictsTheWeightsNamesTheKey() throws {
        let folder = try copyOfFolder("quick") { $0["hidden_size"] = 64 }
        XCTAssertThrowsError(try CLIPTextModel.load(folder: folder)) { error in
            guard case WeightLoadingError.shapeMismatch(let key, let expected, let found, let source) = error else {
                return XCTFail("expected a shape mismatch, got \(error)")
            }
            XCTAssertEqual(key, "text_model.embeddings.token_embedding.weight")
            XCTAssertEqual(expected, [2514, 64])
            XCTAssertEqual(found, [2514, 32])
            XCTAssertTrue(source.hasSuffix("model.safetensors"))
            XCTAssertTrue("\(error)".contains(key))
        }
        let fewer = try copyOfFolder("quick") { $0["num_hidden_layers"] = 1 }
        XCTAssertThrowsError(try CLIPTextModel.load(folder: fewer)) { error in
            guard case WeightLoadingError.unexpectedKeys(let keys, _) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(keys.contains("text_model.encoder.layers.1.self_attn.q_proj.weight"))
        }
    }

    func testUnsupportedConfigValuesNameFileAndField() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("hidden_act", { $0["hidden_act"] = "swish" }),
            ("num_attention_heads", { $0["num_attention_heads"] = 5 }),
            ("num_hidden_layers", { $0["num_hidden_layers"] = 0 }),
            ("hidden_size", { $0["hidden_size"] = "32" }),
            ("eos_token_id", { $0["eos_token_id"] = [2513, 2] })
        ]
        for (field, edit) in cases {
            let folder = try copyOfFolder("quick", editingConfig: edit)
            XCTAssertThrowsError(try CLIPTextModel.load(folder: folder), field) { error in
                guard case CLIPTextModelError.invalidConfiguration(let file, let f, _) = error else {
                    return XCTFail("\(field): got \(error)")
                }
                XCTAssertEqual(file, folder.appendingPathComponent("config.json").path)
                XCTAssertEqual(f, field)
                XCTAssertTrue("\(error)".contains(field) && "\(error)".contains("config.json"), "\(error)")
            }
        }
    }

    func testMissingFilesAreNamed() throws {
        let empty = try makeTemporaryFolder()
        XCTAssertThrowsError(try CLIPTextModel.load(folder: empty)) { error in
            XCTAssertEqual(
                error as? CLIPTextModelError,
                .fileNotFound(path: empty.appendingPathComponent("config.json").path, what: "text encoder config.json"))
        }
        let noWeights = try copyOfFolder("quick") { _ in }
        try FileManager.default.removeItem(at: noWeights.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try CLIPTextModel.load(folder: noWeights)) { error in
            XCTAssertTrue("\(error)".contains(noWeights.appendingPathComponent("model.safetensors").path), "\(error)")
        }
    }

    func testInvalidIdsAreReported() throws {
        let model = CLIPTextModel(
            configuration: CLIPTextConfiguration(
                vocabularySize: 10, hiddenSize: 4, intermediateSize: 4,
                layerCount: 1, headCount: 1, maxPositionEmbeddings: 5))
        XCTAssertNoThrow(try model.validate([[0, 9, 3]]))
        XCTAssertThrowsError(try model.validate([])) { XCTAssertTrue("\($0)".contains("empty batch")) }
        XCTAssertThrowsError(try model.validate([[1, 2], [1]])) { XCTAssertTrue("\($0)".contains("ids[1]")) }
        XCTAssertThrowsError(try model.validate([[1, 10]])) { XCTAssertTrue("\($0)".contains("ids[0][1]")) }
        XCTAssertThrowsError(try model.validate([[1, 2, 3, 4, 5, 6]])) { XCTAssertTrue("\($0)".contains("max_position_embeddings")) }
    }

    // MARK: Configuration

    func testConfigurationReadsFixturesAndRoundTrips() throws {
        let config = try CLIPTextConfiguration.load(from: TextModelTests.encoders.appendingPathComponent("legacy/config.json"))
        let data = try Data(contentsOf: TextModelTests.encoders.appendingPathComponent("legacy/config.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertEqual(config.hiddenSize, json["hidden_size"] as? Int)
        XCTAssertEqual(config.headCount, json["num_attention_heads"] as? Int)
        XCTAssertEqual(config.layerCount, json["num_hidden_layers"] as? Int)
        XCTAssertEqual(config.intermediateSize, json["intermediate_size"] as? Int)
        XCTAssertEqual(config.hiddenActivation.rawValue, json["hidden_act"] as? String)
        XCTAssertEqual(Double(config.layerNormEps), json["layer_norm_eps"] as! Double, accuracy: 1e-12)
        XCTAssertEqual(config.bosTokenId, json["bos_token_id"] as? Int)
        let decoded = try JSONDecoder().decode(CLIPTextConfiguration.self, from: try JSONEncoder().encode(config))
        XCTAssertEqual(decoded, config)
        XCTAssertEqual(try JSONDecoder().decode(CLIPTextConfiguration.self, from: Data("{}".utf8)), CLIPTextConfiguration())
    }

    func testSD15ConfigurationHasViTL14Size() {
        let model = CLIPTextModel(configuration: .sd15)
        // OpenAI CLIP ViT-L/14 text tower: 123,060,480 parameters (without the projection).
        XCTAssertEqual(model.parameterCount, 123_060_480)
        XCTAssertEqual(CLIPTextConfiguration.vitL14, .sd15)
    }
}
