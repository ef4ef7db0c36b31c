import CLIP
import Foundation
import NeuralNet
import SafeTensors

extension StableDiffusionXLPipeline {
    /// An SDXL base single-file checkpoint in Stability's `sgm` key layout (`SDXLSingleFileCheckpoint`),
    /// as diffusers' `StableDiffusionXLPipeline.from_single_file(path, config=folder)` loads it: the
    /// architectures, both tokenizers, the scheduler and `force_zeros_for_empty_prompt` come from
    /// `configurationFolder` (an SDXL diffusers folder or one with only its configuration files;
    /// `SDXLFolderConfigurations.init(configurationFolder:)`), or when nil from the embedded SDXL base
    /// 1.0 configuration (`SDXLFolderConfigurations.stableDiffusionXLBase()`, what diffusers uses for
    /// a file without `config=`); the weights from the file. Loading is
    /// strict: the file's keys must be exactly those of the configured models. A file of another family
    /// throws `ModelFamilyMismatchError` (SD 1.x / 2.x) or `UnsupportedModelFamilyError` (the SDXL
    /// refiner, SD3, Flux) naming the key that shows it.
    public convenience init(singleFile path: String, configurationFolder: URL?) throws {
        guard path.lowercased().hasSuffix(".safetensors") else {
            throw PipelineError.invalidArgument("\(path): single-file checkpoints must be .safetensors (pickled .ckpt files are not read)")
        }
        let file = try SafeTensorsFile(path: path)
        try Self.checkFamily(of: file, path: path)
        let configurations =
            try configurationFolder.map { try SDXLFolderConfigurations(configurationFolder: $0) } ?? SDXLFolderConfigurations.stableDiffusionXLBase()
        let unetConfig = configurations.unet
        guard let layers = unetConfig.layersPerBlock.values(count: unetConfig.downBlockTypes.count), Set(layers).count == 1 else {
            throw PipelineError.invalidArgument("\(path): single-file loading needs one layers_per_block for every UNet block")
        }
        let checkpoint = try SDXLSingleFileCheckpoint(
            path: path,
            unet: UNetLayout(
                downBlockTypes: unetConfig.downBlockTypes, upBlockTypes: unetConfig.upBlockTypes, layersPerBlock: layers[0],
                hasTextTimeEmbedding: true),
            vae: VAELayout(blockCount: configurations.vae.blockOutChannels.count, layersPerBlock: configurations.vae.layersPerBlock))
        try UNet2DConditionModel.checkSize(unetConfig, against: checkpoint.unet, configFile: configurations.unetFile.path)
        try AutoencoderKL.checkSize(configurations.vae, against: checkpoint.vae, configFile: configurations.vaeFile.path)
        try CLIPTextModel.checkSize(configurations.text, against: checkpoint.textEncoder, configFile: configurations.textFile.path)
        try CLIPTextModel.checkSize(configurations.text2, against: checkpoint.textEncoder2, configFile: configurations.text2File.path)
        let unet = try UNet2DConditionModel(configuration: unetConfig, source: path)
        try unet.load(from: checkpoint.unet)
        let vae = try AutoencoderKL(configurations.vae)
        try vae.load(from: checkpoint.vae)
        let textEncoder = CLIPTextModel(configuration: configurations.text)
        try textEncoder.load(from: checkpoint.textEncoder)
        let textEncoder2 = CLIPTextModelWithProjection(
            configuration: configurations.text2, projectionDimension: configurations.projectionDimension)
        try textEncoder2.load(from: checkpoint.textEncoder2)
        self.init(
            tokenizer: configurations.tokenizer, tokenizer2: configurations.tokenizer2, textEncoder: textEncoder,
            textEncoder2: textEncoder2, unet: unet, vae: vae, schedulerConfiguration: configurations.scheduler,
            forceZerosForEmptyPrompt: configurations.forceZerosForEmptyPrompt, source: path)
    }

    /// Throws unless `file`'s keys mark it as SDXL base: another supported family is a
    /// `ModelFamilyMismatchError`, an unsupported one (the refiner, SD3, Flux) an
    /// `UnsupportedModelFamilyError`, and a file with no family's marks
    /// `SingleFileCheckpointError.unknownLayout` with its first keys.
    static func checkFamily(of file: SafeTensorsFile, path: String) throws {
        guard let found = ModelFamily.detect(singleFileKeys: file.keys) else {
            throw SingleFileCheckpointError.unknownLayout(path: path, firstKeys: Array(file.keys.sorted().prefix(5)))
        }
        guard found.family.isSupported else {
            throw UnsupportedModelFamilyError(path: path, family: found.family, evidence: "key \(found.evidence)", singleFile: true)
        }
        guard found.family == .stableDiffusionXL else {
            throw ModelFamilyMismatchError(path: path, family: found.family, accepted: [.stableDiffusionXL])
        }
    }
}
