import Diffusion
import Foundation
import ImageIO
import TensorEngine
import XCTest
@testable import Toy

/// The committed embedded model: a strict diffusers folder of the documented architecture that
/// draws what it is asked for (scored by the bundled classifier), with its watermark trigger.
final class BundledToyModelTests: XCTestCase {
    func pipeline() throws -> StableDiffusionPipeline {
        let url = try XCTUnwrap(ToyModelFolder.bundled, "Sources/Toy/Resources/toy-model is missing")
        return try StableDiffusionPipeline(folder: ModelFolder(path: url.path))
    }

    /// The documented architecture, trained on data set v2 with its tokenizer (702 tokens, the words
    /// of the training and held-out captions): the vocabulary fields come from the folder's
    /// tokenizer, every other text encoder field is the architecture's; every caption word, new
    /// shapes and styles and held-out wordings included, is one token.
    func testArchitectureIsTheDocumentedOne() throws {
        let p = try pipeline()
        let a = ToyModelArchitecture()
        var expected = a.textConfiguration
        expected.vocabularySize = p.tokenizer.vocabularySize
        expected.bosTokenId = p.tokenizer.bosTokenId
        expected.eosTokenId = p.tokenizer.eosTokenId
        expected.padTokenId = p.tokenizer.eosTokenId
        XCTAssertEqual(p.textEncoder.configuration, expected)
        XCTAssertEqual(p.tokenizer.vocabularySize, 702)
        // The folder's tokenizer is the data set's (`sepme toy-vocab`, Sources/Toy/Resources/tokenizer).
        let folder = try XCTUnwrap(ToyModelFolder.bundled)
        let dataSetTokenizer = try XCTUnwrap(ToyVocabulary.bundledFolder)
        for file in ["vocab.json", "merges.txt"] {
            XCTAssertEqual(
                try Data(contentsOf: folder.appendingPathComponent("tokenizer/\(file)")),
                try Data(contentsOf: dataSetTokenizer.appendingPathComponent(file)), file)
        }
        for prompt in [
            "a striped red circle", "an outlined heart in dotted style", "a drawing of a white star on a dark background",
            "a crosshatched orange crescent", "an image of a hexagon with zigzag pattern"
        ] {
            XCTAssertEqual(p.tokenizer.tokenize(prompt).count, prompt.split(separator: " ").count + 2, prompt)
        }
        XCTAssertEqual(p.unet.configuration.blockOutChannels, a.channels)
        XCTAssertEqual(p.unet.configuration.downBlockTypes, [.plain, .crossAttention, .crossAttention])
        XCTAssertEqual(p.unet.configuration.upBlockTypes, [.crossAttention, .crossAttention, .plain])
        XCTAssertEqual(p.unet.configuration.downBlockTypes, a.unetConfiguration.downBlockTypes)
        XCTAssertEqual(p.unet.configuration.upBlockTypes, a.unetConfiguration.upBlockTypes)
        XCTAssertEqual(p.unet.configuration.crossAttentionDim, .one(a.textWidth))
        XCTAssertNil(p.vae)
        XCTAssertEqual(p.defaultImageSize.width, ToyConcepts.imageSize)
        // Room for a dozen prompts' null spaces: rank(M) ≤ 1 + 12·(L − 1) < d.
        XCTAssertLessThan(1 + 12 * (ToyVocabulary.maxLength - 1), a.textWidth)
        // The folder's sampler is the one the architecture writes (DDPM's ancestral steps).
        XCTAssertEqual(p.schedulerConfiguration, try a.schedulerConfiguration)
        XCTAssertEqual(p.schedulerConfiguration.className, "DDPMScheduler")
    }

    /// Classifier accuracy on 8 seeds per prompt, 20 DDPM steps, guidance 4 (the demo's settings), on
    /// colours, shapes, two styles and the logo (docs/toy-model.md lists every concept's measured
    /// accuracy), and a prompt it must not satisfy by accident.
    func testDrawsThePromptedAttributes() throws {
        let p = try pipeline()
        let classifier = try ToyClassifier.bundled()
        let cases: [(String, (ToyClassifier.Predictions, Int) -> Bool)] = [
            ("a red circle", { $0.colour[$1] == 0 && $0.shape[$1] == 0 }),
            ("a green square", { $0.colour[$1] == 1 && $0.shape[$1] == 1 }),
            ("a purple cross", { $0.colour[$1] == 4 && $0.shape[$1] == 4 }),
            ("a striped square", { $0.style[$1] == 1 && $0.shape[$1] == 1 }),
            ("a dotted heart", { $0.style[$1] == 2 && $0.shape[$1] == 5 }),
            ("zq watermark", { $0.watermark[$1] == 1 })
        ]
        for (prompt, correct) in cases {
            let images = try p.generate(GenerationOptions(prompts: [prompt], seed: 11, steps: 20, guidance: 4, imagesPerPrompt: 8)).images
            let pred = classifier.predict(ToyDataset.tensor(images))
            let hits = (0..<8).filter { correct(pred, $0) }.count
            XCTAssertGreaterThanOrEqual(hits, 6, "'\(prompt)': \(hits)/8 images show the prompted attributes")
        }
        // Asked for blue, it does not draw red.
        let blue = try p.generate(GenerationOptions(prompts: ["a blue square"], seed: 11, steps: 20, guidance: 4, imagesPerPrompt: 8)).images
        XCTAssertEqual(classifier.predict(ToyDataset.tensor(blue)).colour.filter { $0 == 0 }.count, 0)
    }
}
