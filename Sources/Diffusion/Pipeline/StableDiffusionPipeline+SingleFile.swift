import CLIP
import Foundation
import NeuralNet
import SafeTensors

extension StableDiffusionPipeline {
    /// Loads `path`: a diffusers folder, or a single-file checkpoint (`.safetensors` with the
    /// original CompVis / A1111 key names) whose architectures come from `configurationFolder` (see
    /// `init(singleFile:configurationFolder:)`; needed for SD 2.x files, refused for folders).
    public convenience init(path: String, configurationFolder: URL? = nil) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
            try self.init(singleFile: path, configurationFolder: configurationFolder)
        } else {
            if let configurationFolder {
                throw PipelineError.invalidArgument(
                    "\(path): a configuration folder (\(configurationFolder.path)) only applies to a single-file checkpoint; "
                        + "a diffusers folder carries its own configuration")
            }
            try self.init(folder: ModelFolder(path: path))
        }
    }

    /// A single-file checkpoint. Architectures come from `configurationFolder` (a diffusers folder
    /// whose config files, tokenizer and scheduler configuration are used; its weights are not read),
    /// or, when nil, from the embedded configurations: SD 2.1 (`bundledStableDiffusion21Folder`, 768 px,
    /// v prediction, OpenCLIP's tokenizer) for a file with an OpenCLIP text encoder, as diffusers'
    /// `from_single_file` does without `config=`; the Stable Diffusion v1 ones and CLIP vocabulary otherwise.
    /// Loading is strict: the file's keys must be exactly those of the configured models.
    public convenience init(singleFile path: String, configurationFolder: URL?) throws {
        guard path.lowercased().hasSuffix(".safetensors") else {
            throw PipelineError.invalidArgument("\(path): single-file checkpoints must be .safetensors (pickled .ckpt files are not read)")
        }
        let file = try SafeTensorsFile(path: path)
        if let found = ModelFamily.detect(singleFileKeys: file.keys) {
            guard found.family.readsSingleFiles else {
                throw UnsupportedModelFamilyError(path: path, family: found.family, evidence: "key \(found.evidence)", singleFile: true)
            }
            guard found.family == .stableDiffusion1 || found.family == .stableDiffusion2 else {
                throw ModelFamilyMismatchError(path: path, family: found.family, accepted: [.stableDiffusion1, .stableDiffusion2])
            }
        }
        let unetConfig: UNet2DConditionConfiguration
        let vaeConfig: AutoencoderKLConfiguration
        let textConfig: CLIPTextConfiguration
        let scheduler: SchedulerConfiguration
        let tokenizer: CLIPTokenizer
        let sources: (tokenizer: String, text: String, unet: String, vae: String)
        // A configuration folder, else the embedded configuration of the file's family: SD 2.1 (768 px,
        // v prediction) for an OpenCLIP text encoder, as diffusers' from_single_file defaults to
        // stabilityai/stable-diffusion-2-1; SD 1.x otherwise.
        let embeddedSD2 = configurationFolder == nil && SingleFileCheckpoint.hasOpenCLIPTextEncoder(file)
        if let dir = configurationFolder ?? (embeddedSD2 ? Self.bundledStableDiffusion21Folder : nil) {
            let tokenizerSource = embeddedSD2 ? CLIPTokenizer.bundledOpenCLIPFolder.path : dir.appendingPathComponent("tokenizer").path
            sources = (
                tokenizerSource, dir.appendingPathComponent("text_encoder/config.json").path,
                dir.appendingPathComponent("unet/config.json").path, dir.appendingPathComponent("vae/config.json").path
            )
            unetConfig = try .load(from: dir.appendingPathComponent("unet/config.json"))
            vaeConfig = try .load(from: dir.appendingPathComponent("vae/config.json"))
            textConfig = try .load(from: dir.appendingPathComponent("text_encoder/config.json"))
            scheduler = try .load(from: dir.appendingPathComponent("scheduler/scheduler_config.json"))
            tokenizer = embeddedSD2 ? try CLIPTokenizer.openCLIP() : try CLIPTokenizer(folder: dir.appendingPathComponent("tokenizer"))
        } else {
            unetConfig = .sd14
            vaeConfig = .sd14
            textConfig = .sd15
            scheduler = .stableDiffusion1
            tokenizer = try CLIPTokenizer.stableDiffusion1()
            sources = (
                CLIPTokenizer.bundledStableDiffusion1Folder.path, "the embedded SD 1.5 text encoder configuration",
                "the embedded SD 1.4 UNet configuration", "the embedded SD 1.4 VAE configuration"
            )
        }
        try Self.checkConsistency(
            tokenizer: tokenizer, tokenizerSource: sources.tokenizer, text: textConfig, textSource: sources.text,
            unet: unetConfig, unetSource: sources.unet, vae: vaeConfig, vaeSource: sources.vae)
        guard let layers = unetConfig.layersPerBlock.values(count: unetConfig.downBlockTypes.count), Set(layers).count == 1 else {
            throw PipelineError.invalidArgument("\(path): single-file loading needs one layers_per_block for every UNet block")
        }
        let checkpoint = try SingleFileCheckpoint(
            path: path,
            unet: UNetLayout(downBlockTypes: unetConfig.downBlockTypes, upBlockTypes: unetConfig.upBlockTypes, layersPerBlock: layers[0]),
            vae: VAELayout(blockCount: vaeConfig.blockOutChannels.count, layersPerBlock: vaeConfig.layersPerBlock),
            textLayerCount: textConfig.layerCount)
        try UNet2DConditionModel.checkSize(unetConfig, against: checkpoint.unet, configFile: sources.unet)
        try AutoencoderKL.checkSize(vaeConfig, against: checkpoint.vae, configFile: sources.vae)
        try CLIPTextModel.checkSize(textConfig, against: checkpoint.textEncoder, configFile: sources.text)
        let unet = try UNet2DConditionModel(configuration: unetConfig, source: path)
        try unet.load(from: checkpoint.unet)
        let vae = try AutoencoderKL(vaeConfig)
        try vae.load(from: checkpoint.vae)
        let textEncoder = CLIPTextModel(configuration: textConfig)
        try textEncoder.load(from: checkpoint.textEncoder)
        self.init(
            tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, vae: vae,
            schedulerConfiguration: scheduler, source: path)
    }
}

extension StableDiffusionPipeline {
    /// The configuration files of stabilityai/stable-diffusion-2-1, embedded (`unet/`, `vae/`,
    /// `text_encoder/`, `scheduler/`; its tokenizer is `CLIPTokenizer.openCLIP()`).
    public static var bundledStableDiffusion21Folder: URL {
        Bundle.module.url(forResource: "Resources/sd-2.1", withExtension: nil)!
    }
}

extension SchedulerConfiguration {
    /// The scheduler configuration of Stable Diffusion v1 folders (scaled_linear 0.00085–0.012,
    /// steps_offset 1), sampled with DDIM when the file names PNDM.
    public static let stableDiffusion1: SchedulerConfiguration = {
        var c = SchedulerConfiguration()
        c.className = "DDIMScheduler"
        c.betaStart = 0.00085
        c.betaEnd = 0.012
        c.betaSchedule = .scaledLinear
        c.clipSample = false
        c.setAlphaToOne = false
        c.stepsOffset = 1
        return c
    }()
}
