/// The model families sepme tells apart from the files alone, so that a model it does not run is
/// refused by name (what was found and where) before any configuration or weight is read.
///
/// Single files are recognised by key prefixes of the original layouts (Stability's `sgm` /
/// CompVis `ldm` checkpoints and the reference Flux / SD3 releases, as diffusers'
/// `loaders/single_file_utils.py` `infer_diffusers_model_type` reads them); diffusers folders by
/// `model_index.json`'s `_class_name`.
public enum ModelFamily: String, Sendable, Equatable, CaseIterable {
    case stableDiffusion1 = "Stable Diffusion 1.x"
    case stableDiffusion2 = "Stable Diffusion 2.x"
    case stableDiffusionXL = "Stable Diffusion XL"
    /// SDXL's refiner: one text encoder (OpenCLIP bigG, `conditioner.embedders.0.model.`), image-to-image only.
    case stableDiffusionXLRefiner = "Stable Diffusion XL refiner"
    case stableDiffusion3 = "Stable Diffusion 3"
    case flux = "Flux"

    /// The families sepme loads and samples from diffusers folders.
    public var isSupported: Bool { self == .stableDiffusion1 || self == .stableDiffusion2 || self == .stableDiffusionXL }
    /// The families sepme also reads as single-file checkpoints.
    public var readsSingleFiles: Bool { isSupported }

    /// A key prefix that marks each family in a single file, first match wins (SD3's and SDXL's
    /// files share `model.diffusion_model.` with SD 1.x/2.x, so their own marks come first; the SDXL
    /// refiner's only encoder is OpenCLIP under `conditioner.embedders.0.model.`, where SDXL base has
    /// CLIP ViT-L under `conditioner.embedders.0.transformer.`).
    static let singleFileMarks: [(prefix: String, family: ModelFamily)] = [
        ("model.diffusion_model.joint_blocks.", .stableDiffusion3),
        ("model.diffusion_model.double_blocks.", .flux),
        ("double_blocks.", .flux),
        ("joint_blocks.", .stableDiffusion3),
        ("conditioner.embedders.0.model.", .stableDiffusionXLRefiner),
        ("conditioner.embedders.", .stableDiffusionXL),
        ("cond_stage_model.model.", .stableDiffusion2),
        ("cond_stage_model.transformer.", .stableDiffusion1)
    ]

    /// The family whose marks `keys` carry, and the key that shows it; nil for none of them.
    public static func detect(singleFileKeys keys: [String]) -> (family: ModelFamily, evidence: String)? {
        for mark in singleFileMarks {
            if let key = keys.first(where: { $0.hasPrefix(mark.prefix) }) { return (mark.family, key) }
        }
        return nil
    }

    /// The family a diffusers pipeline class belongs to (`StableDiffusionXLPipeline`,
    /// `StableDiffusion3Pipeline`, `FluxPipeline`, ...); nil for a class of none of the non-SD1/2
    /// families (SD 1.x and 2.x share `StableDiffusionPipeline`, told apart by their configurations).
    public static func family(ofPipelineClass name: String) -> ModelFamily? {
        if name.hasPrefix("StableDiffusionXL") { return .stableDiffusionXL }
        if name.hasPrefix("StableDiffusion3") { return .stableDiffusion3 }
        if name.hasPrefix("Flux") { return .flux }
        return nil
    }
}

/// A model of a family sepme does not run (in this form), named with what identified it.
public struct UnsupportedModelFamilyError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let family: ModelFamily
    /// What showed the family: a key of the file or the pipeline class of model_index.json.
    public let evidence: String
    /// Whether the model is a single file (some supported families are read only as folders).
    public let singleFile: Bool

    public init(path: String, family: ModelFamily, evidence: String, singleFile: Bool = false) {
        self.path = path
        self.family = family
        self.evidence = evidence
        self.singleFile = singleFile
    }

    public var description: String {
        func names(_ families: [ModelFamily]) -> String {
            let all = families.map(\.rawValue)
            return all.count < 2 ? all.joined() : all.dropLast().joined(separator: ", ") + " and " + all[all.count - 1]
        }
        if singleFile && family.isSupported {
            return "\(path): a \(family.rawValue) single-file checkpoint (found \(evidence)); sepme reads single files of "
                + "\(names(ModelFamily.allCases.filter(\.readsSingleFiles))) only: use a diffusers folder of this model"
        }
        return "\(path): a \(family.rawValue) model (found \(evidence)); sepme runs \(names(ModelFamily.allCases.filter(\.isSupported))) models only"
    }
}

/// A model of a supported family given to code that takes other families (an SDXL folder where
/// only Stable Diffusion 1.x / 2.x pipelines are built, e.g. concept erasure).
public struct ModelFamilyMismatchError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let family: ModelFamily
    /// The families the code takes.
    public let accepted: [ModelFamily]

    public init(path: String, family: ModelFamily, accepted: [ModelFamily]) {
        self.path = path
        self.family = family
        self.accepted = accepted
    }

    public var description: String {
        "\(path): a \(family.rawValue) model; this takes \(accepted.map(\.rawValue).joined(separator: " and ")) models only"
    }
}
