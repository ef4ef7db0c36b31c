import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine
import TestSupport
import XCTest

/// The SDXL options of UNet2DConditionModel against diffusers (fixture: scripts/make_sdxl_unet_fixtures.py,
/// Resources/unet/sdxl_text_time): a plain first level, per-block `transformer_layers_per_block`
/// (1, 2), linear projections, and `addition_embed_type` "text_time" (pooled text embedding and six
/// time ids through `add_embedding`, added to the timestep embedding).
final class SDXLUNetTests: XCTestCase {
    static let folder = UNetTests.folder("sdxl_text_time")

    static func inputs() throws -> (UNet2DConditionModel, FixtureFile, Tensor, Tensor, UNetAddedConditions) {
        let model = try UNet2DConditionModel.load(folder: folder)
        let ref = try UNetTests.reference("sdxl_text_time")
        let added = try XCTUnwrap(UNetAddedConditions(textEmbeds: try ref.tensor("text_embeds"), timeIds: try ref.tensor("time_ids")))
        return (model, ref, try ref.tensor("sample"), try ref.tensor("encoder_hidden_states"), added)
    }

    func testConfigurationReadsTheSDXLOptions() throws {
        let (model, _, _, _, _) = try Self.inputs()
        let c = model.configuration
        XCTAssertEqual(c.transformerLayersPerBlock, .many([1, 2]))
        XCTAssertEqual(c.additionEmbedType, "text_time")
        XCTAssertEqual(model.textTime, UNetTextTimeEmbedding(timeEmbedDim: 8, projectionInputDim: 80))
        XCTAssertEqual(model.textTime?.pooledWidth(timeIdCount: 6), 32)
        XCTAssertNotNil(model.add_embedding)
        // Level 1 (cross-attention) has two transformer layers per attention, as its up block and the mid block.
        let down = try XCTUnwrap(model.down_blocks[1] as? CrossAttnDownBlock2D)
        XCTAssertEqual(down.attentions.map(\.transformer_blocks.count), [2])
        let up = try XCTUnwrap(model.up_blocks[0] as? CrossAttnUpBlock2D)
        XCTAssertEqual(up.attentions.map(\.transformer_blocks.count), [2, 2])
        XCTAssertEqual(model.mid_block.attentions[0].transformer_blocks.count, 2)
        XCTAssertFalse(model.down_blocks[0] is CrossAttnDownBlock2D)
    }

    func testKeysEqualDiffusersStateDict() throws {
        let model = try UNet2DConditionModel(configuration: .load(from: Self.folder.appendingPathComponent("config.json")))
        let fileKeys = try SafeTensorsFile(path: Self.folder.appendingPathComponent(UNet2DConditionModel.weightsFileName).path).keys
        XCTAssertEqual(Set(model.namedParameters().map(\.0)), Set(fileKeys))
        XCTAssertTrue(fileKeys.contains("add_embedding.linear_1.weight"))
    }

    // Tolerance: max |swift - diffusers(float64)| / max |diffusers| <= 1e-4.
    func testNoisePredictionsMatchDiffusers() throws {
        let (model, ref, sample, context, added) = try Self.inputs()
        var cases: [(String, [Float], UNetAddedConditions)] = [999, 500, 1].map { ("noise_pred_t\($0)", [Float($0)], added) }
        cases.append(("noise_pred_mixed", try ref.tensor("timesteps_mixed").scalars, added))
        let swapped = try XCTUnwrap(
            UNetAddedConditions(
                textEmbeds: Tensor.concat([added.textEmbeds.sliced(axis: 0, 1..<2), added.textEmbeds.sliced(axis: 0, 0..<1)], axis: 0),
                timeIds: added.timeIds))
        cases.append(("noise_pred_t500_swapped_pooled", [500], swapped))
        for (key, timesteps, conditions) in cases {
            let expected = try ref.tensor(key)
            let out = GradMode.withNoGrad {
                model(sample, timesteps: timesteps, encoderHiddenStates: context, addedConditions: conditions)
            }
            XCTAssertEqual(out.shape, expected.shape, key)
            let e = maxErrors(out, expected)
            print("UNet sdxl_text_time \(key): relative max error \(e.abs / e.refMax)")
            XCTAssertLessThanOrEqual(e.abs / e.refMax, 1e-4, "\(key): max abs error \(e.abs) at \(e.index), max |ref| \(e.refMax)")
        }
    }

    /// One sample under two contexts (and two pooled embeddings) from one text-free start equals
    /// the plain forward on the repeated sample.
    func testTextFreeStartSharedAcrossContexts() throws {
        let (model, _, sample, context, added) = try Self.inputs()
        let contexts = Tensor.concat([context, context * -0.5], axis: 0)
        let both = try XCTUnwrap(UNetAddedConditions.concat(added, added))
        let (shared, plain) = GradMode.withNoGrad {
            (
                model(continuing: model.textFreeStart(sample, timesteps: [500]), encoderHiddenStates: contexts, addedConditions: both),
                model(Tensor.concat([sample, sample], axis: 0), timesteps: [500], encoderHiddenStates: contexts, addedConditions: both)
            )
        }
        let e = maxErrors(shared, plain)
        XCTAssertLessThanOrEqual(e.abs / e.refMax, 1e-5, "max abs error \(e.abs) at \(e.index)")
    }

    /// "text_time" needs both widths; the widths need "text_time"; other addition types are refused.
    func testTextTimeConfigurationErrorsNameTheKey() throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("config.json"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdxl-unet-\(UUID().uuidString).json")
        addTeardownBlock { try? FileManager.default.removeItem(at: file) }
        func error(_ edit: (inout [String: Any]) -> Void) throws -> UNetConfigurationError? {
            var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: file)
            do {
                _ = try UNet2DConditionConfiguration.load(from: file)
                return nil
            } catch let e as UNetConfigurationError { return e }
        }
        let missing = try error { $0["projection_class_embeddings_input_dim"] = NSNull() }
        XCTAssertTrue(missing?.description.contains("'projection_class_embeddings_input_dim'") == true, "\(String(describing: missing))")
        let orphan = try error { $0["addition_embed_type"] = NSNull() }
        XCTAssertTrue(orphan?.description.contains("'addition_time_embed_dim'") == true, "\(String(describing: orphan))")
        let other = try error { $0["addition_embed_type"] = "image" }
        XCTAssertTrue(other?.description.contains("'addition_embed_type' = \"image\"") == true, "\(String(describing: other))")
        let wrongType = try error { $0["addition_time_embed_dim"] = 2.5 }
        XCTAssertTrue(wrongType?.description.contains("addition_time_embed_dim") == true, "\(String(describing: wrongType))")
        let badLayers = try error { $0["transformer_layers_per_block"] = [1, 2, 3] }
        XCTAssertTrue(badLayers?.description.contains("'transformer_layers_per_block'") == true, "\(String(describing: badLayers))")
    }
}
