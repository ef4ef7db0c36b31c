import ConceptErasure
import Diffusion
import Foundation

/// Loads `--model` (a diffusers folder, or a single-file checkpoint with `--config`'s folder or the
/// embedded SD 1.x / SD 2.1 / SDXL base configuration for its architecture) into a pipeline, timing it on stderr.
enum ModelLoading {
    /// Loads `--model` for text-to-image and erasure as the pipeline of its family (`PipelineLoader`):
    /// SDXL folders and SDXL single files into `StableDiffusionXLPipeline`, SD 1.x /
    /// 2.x into `StableDiffusionPipeline`.
    static func textToImagePipeline(_ path: String, config: String?, quiet: Bool) throws -> any PromptConditionedPipeline {
        let bar = ProgressBar("loading", quiet: quiet)
        let started = Date()
        let pipeline = try PipelineLoader.promptConditionedPipeline(path: path, configurationFolder: config.map { URL(fileURLWithPath: $0) })
        bar.message(String(format: "loaded %@ in %.1f s", path, Date().timeIntervalSince(started)))
        return pipeline
    }

    /// The model a plan file (at `planPath`) was made on, from `path` (`--model`, with `config`) or
    /// the plan's own path and configuration folder, checked to be that model by its fingerprint.
    static func shiftSet(for file: ErasurePlanFile, planPath: String, path: String?, config: String?, quiet: Bool) throws -> ShiftSet {
        let model = reference(of: file, path: path, config: config)
        let set = try ShiftSet(pipeline: textToImagePipeline(model.path, config: model.config, quiet: quiet))
        guard set.fingerprint == file.model.fingerprint else {
            throw ErasureError.fingerprintMismatch(path: planPath, expected: file.model.fingerprint, found: set.fingerprint)
        }
        return set
    }

    /// The model and configuration folder to load for a plan: `--model` or the plan's path, and
    /// `--config`, or the plan's configuration folder when the plan's own model is loaded.
    static func reference(of file: ErasurePlanFile, path: String?, config: String?) -> (path: String, config: String?) {
        let model = path ?? file.model.path
        return (model, config ?? (model == file.model.path ? file.model.configuration : nil))
    }
}
