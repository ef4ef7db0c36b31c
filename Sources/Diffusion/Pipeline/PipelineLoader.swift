import Foundation
import SafeTensors

/// Loads a model path as the pipeline of its family: the one place that tells a diffusers folder
/// from a single file and SDXL from SD 1.x / 2.x before anything else is read.
///
/// - a folder: `ModelFolder`; an SDXL folder (`model_index.json`'s class or a `text_encoder_2`) becomes
///   a `StableDiffusionXLPipeline`, any other a `StableDiffusionPipeline`; a configuration folder is refused.
/// - a file: its family from its keys (`ModelFamily.detect`); SDXL base loads with `configurationFolder`
///   or the embedded SDXL base 1.0 configuration (`StableDiffusionXLPipeline.init(singleFile:configurationFolder:)`),
///   SD 1.x / 2.x files load as
///   `StableDiffusionPipeline.init(singleFile:configurationFolder:)` does; other families are refused by name.
public enum PipelineLoader {
    public static func promptConditionedPipeline(path: String, configurationFolder: URL?) throws -> any PromptConditionedPipeline {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue && path.lowercased().hasSuffix(".safetensors") {
            let file = try SafeTensorsFile(path: path)
            if let found = ModelFamily.detect(singleFileKeys: file.keys), found.family == .stableDiffusionXL {
                return try StableDiffusionXLPipeline(singleFile: path, configurationFolder: configurationFolder)
            }
            return try StableDiffusionPipeline(singleFile: path, configurationFolder: configurationFolder)
        }
        if exists && isDirectory.boolValue && configurationFolder == nil {
            let folder = try ModelFolder(path: path)
            return folder.isStableDiffusionXL ? try StableDiffusionXLPipeline(folder: folder) : try StableDiffusionPipeline(folder: folder)
        }
        // Anything else (a missing path, a pickle file, a folder with a configuration folder) gets
        // StableDiffusionPipeline's own errors.
        return try StableDiffusionPipeline(path: path, configurationFolder: configurationFolder)
    }
}
