import CLIP
import Foundation

/// Every configuration of an SDXL diffusers folder and both tokenizers, read, validated and checked
/// against each other without reading any weight: each tokenizer inside its encoder's vocabulary and
/// positions, the two encoders' widths adding up to the UNet's cross-attention width, the UNet's
/// "text_time" embedding taking the second encoder's `projection_dim` plus six time ids, the UNet's
/// channels equal to the VAE's latent channels. Mismatches throw `PipelineConsistencyError`.
///
/// Read from a diffusers folder (`init(folder:)`) or from a configuration folder
/// (`init(configurationFolder:)`: the same layout, weights not needed), which gives a single-file
/// checkpoint the architecture its file does not store.
public struct SDXLFolderConfigurations {
    public let tokenizer: CLIPTokenizer
    public let tokenizer2: CLIPTokenizer
    public let text: CLIPTextConfiguration
    public let text2: CLIPTextConfiguration
    /// `text_encoder_2`'s `projection_dim`: the pooled embedding's width.
    public let projectionDimension: Int
    public let unet: UNet2DConditionConfiguration
    public let vae: AutoencoderKLConfiguration
    public let scheduler: SchedulerConfiguration
    /// model_index.json's `force_zeros_for_empty_prompt` (true when absent, diffusers' default).
    public let forceZerosForEmptyPrompt: Bool
    /// The configuration files read, for messages: unet, vae, text_encoder, text_encoder_2 config.json.
    public let unetFile: URL
    public let vaeFile: URL
    public let textFile: URL
    public let text2File: URL

    /// Time ids SDXL base passes (original size, crop top-left, target size).
    public static let timeIdCount = 6

    public init(folder: ModelFolder) throws {
        guard let textEncoder2 = folder.textEncoder2, let tokenizer2Folder = folder.tokenizer2 else {
            throw ModelFamilyMismatchError(path: folder.url.path, family: .stableDiffusion1, accepted: [.stableDiffusionXL])
        }
        guard let vaeFolder = folder.vae else {
            throw ModelFolder.Error.missingFile(folder.url.appendingPathComponent("vae").path, what: "the vae component")
        }
        try self.init(
            tokenizerFolder: folder.tokenizer, tokenizer2Folder: tokenizer2Folder,
            textFile: folder.textEncoder.appendingPathComponent("config.json"),
            text2File: textEncoder2.appendingPathComponent("config.json"), unetFile: folder.unet.appendingPathComponent("config.json"),
            vaeFile: vaeFolder.appendingPathComponent("config.json"), schedulerFile: folder.schedulerConfig,
            forceZerosForEmptyPrompt: folder.forceZerosForEmptyPrompt)
    }

    /// The configurations of a folder laid out as a diffusers SDXL folder (`tokenizer/`, `tokenizer_2/`,
    /// `text_encoder/config.json`, `text_encoder_2/config.json`, `unet/config.json`, `vae/config.json`,
    /// `scheduler/scheduler_config.json`, optional `model_index.json`); no weights are read or needed.
    /// A missing file throws `ModelFolder.Error.missingFile` naming it.
    public init(configurationFolder dir: URL) throws {
        func file(_ relative: String, _ what: String) throws -> URL {
            let url = dir.appendingPathComponent(relative)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ModelFolder.Error.missingFile(url.path, what: what + " (an SDXL configuration folder)")
            }
            return url
        }
        let index = dir.appendingPathComponent("model_index.json")
        let forceZeros = try ModelFolder.readIndex(index).forceZeros
        try self.init(
            tokenizerFolder: try file("tokenizer", "the first tokenizer"), tokenizer2Folder: try file("tokenizer_2", "the second tokenizer"),
            textFile: try file("text_encoder/config.json", "the first text encoder's configuration"),
            text2File: try file("text_encoder_2/config.json", "the second text encoder's configuration"),
            unetFile: try file("unet/config.json", "the UNet configuration"), vaeFile: try file("vae/config.json", "the VAE configuration"),
            schedulerFile: try file("scheduler/scheduler_config.json", "the scheduler configuration"), forceZerosForEmptyPrompt: forceZeros)
    }

    /// The folder of the embedded SDXL base 1.0 configuration (`stableDiffusionXLBase()`).
    public static var bundledBaseFolder: URL {
        Bundle.module.url(forResource: "Resources/sdxl-base-1.0", withExtension: nil)!
    }

    /// The configurations of stabilityai/stable-diffusion-xl-base-1.0, embedded (its `model_index.json`,
    /// `unet/`, `vae/`, `text_encoder/`, `text_encoder_2/` and `scheduler/` configuration files, and
    /// both tokenizers from the bundled CLIP vocabulary: `CLIPTokenizer.stableDiffusion1()` and
    /// `CLIPTokenizer.openCLIP()`). What a single-file SDXL checkpoint is read with when
    /// no configuration folder is given: every SDXL base fine-tune shares this architecture, the
    /// ε prediction and the Euler scheduler.
    public static func stableDiffusionXLBase() throws -> SDXLFolderConfigurations {
        let dir = bundledBaseFolder
        return try SDXLFolderConfigurations(
            tokenizer: try CLIPTokenizer.stableDiffusion1(), tokenizerSource: CLIPTokenizer.bundledStableDiffusion1Folder.path,
            tokenizer2: try CLIPTokenizer.openCLIP(),
            tokenizer2Source: CLIPTokenizer.bundledOpenCLIPFolder.path,
            textFile: dir.appendingPathComponent("text_encoder/config.json"),
            text2File: dir.appendingPathComponent("text_encoder_2/config.json"), unetFile: dir.appendingPathComponent("unet/config.json"),
            vaeFile: dir.appendingPathComponent("vae/config.json"), schedulerFile: dir.appendingPathComponent("scheduler/scheduler_config.json"),
            forceZerosForEmptyPrompt: try ModelFolder.readIndex(dir.appendingPathComponent("model_index.json")).forceZeros)
    }

    private init(
        tokenizerFolder: URL, tokenizer2Folder: URL, textFile: URL, text2File: URL, unetFile: URL,
        vaeFile: URL, schedulerFile: URL, forceZerosForEmptyPrompt: Bool
    ) throws {
        try self.init(
            tokenizer: try CLIPTokenizer(folder: tokenizerFolder), tokenizerSource: tokenizerFolder.path,
            tokenizer2: try CLIPTokenizer(folder: tokenizer2Folder), tokenizer2Source: tokenizer2Folder.path, textFile: textFile,
            text2File: text2File, unetFile: unetFile, vaeFile: vaeFile, schedulerFile: schedulerFile,
            forceZerosForEmptyPrompt: forceZerosForEmptyPrompt)
    }

    private init(
        tokenizer: CLIPTokenizer, tokenizerSource: String, tokenizer2: CLIPTokenizer, tokenizer2Source: String, textFile textURL: URL,
        text2File text2URL: URL, unetFile unetURL: URL, vaeFile vaeURL: URL, schedulerFile: URL, forceZerosForEmptyPrompt: Bool
    ) throws {
        self.tokenizer = tokenizer
        self.tokenizer2 = tokenizer2
        textFile = textURL
        text2File = text2URL
        unetFile = unetURL
        vaeFile = vaeURL
        self.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt
        text = try CLIPTextConfiguration.load(from: textURL)
        text2 = try CLIPTextConfiguration.load(from: text2URL)
        projectionDimension = try CLIPTextModelWithProjection.projectionDimension(configFile: text2URL)
        unet = try UNet2DConditionConfiguration.load(from: unetURL)
        vae = try AutoencoderKLConfiguration.load(from: vaeURL)
        scheduler = try SchedulerConfiguration.load(from: schedulerFile)

        try StableDiffusionPipeline.checkTokenizer(tokenizer, tokenizerSource: tokenizerSource, text: text, textSource: textURL.path)
        try StableDiffusionPipeline.checkTokenizer(tokenizer2, tokenizerSource: tokenizer2Source, text: text2, textSource: text2URL.path)
        // The two prompt embeddings are concatenated along the features: equal lengths are needed.
        guard tokenizer.modelMaxLength == tokenizer2.modelMaxLength else {
            throw PipelineConsistencyError.tokenizerLengthMismatch(
                tokenizers: [tokenizerSource, tokenizer2Source],
                modelMaxLengths: [tokenizer.modelMaxLength, tokenizer2.modelMaxLength])
        }
        let cross = unet.crossAttentionDim.all.first ?? 0
        guard text.hiddenSize + text2.hiddenSize == cross else {
            throw PipelineConsistencyError.textWidthSumMismatch(
                textEncoders: [textURL.path, text2URL.path], hiddenSizes: [text.hiddenSize, text2.hiddenSize],
                unet: unetURL.path, crossAttentionDim: cross)
        }
        guard unet.additionEmbedType == "text_time", let timeDim = unet.additionTimeEmbedDim,
            let inputDim = unet.projectionClassEmbeddingsInputDim
        else { throw PipelineConsistencyError.missingTextTimeEmbedding(unet: unetURL.path) }
        guard projectionDimension + Self.timeIdCount * timeDim == inputDim else {
            throw PipelineConsistencyError.pooledWidthMismatch(
                textEncoder: text2URL.path, projectionDim: projectionDimension, timeIds: Self.timeIdCount,
                unet: unetURL.path, timeEmbedDim: timeDim, projectionInputDim: inputDim)
        }
        try StableDiffusionPipeline.checkLatents(unet: unet, unetSource: unetURL.path, vae: vae, vaeSource: vaeURL.path)
    }
}
