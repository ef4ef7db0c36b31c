import Diffusion
import Foundation

/// Loads `--model` (a diffusers folder) into a pipeline, timing it on stderr.
enum ModelLoading {
    static func pipeline(_ path: String, quiet: Bool) throws -> StableDiffusionPipeline {
        let bar = ProgressBar("loading", quiet: quiet)
        let started = Date()
        let pipeline = try StableDiffusionPipeline(path: path)
        bar.message(String(format: "loaded %@ in %.1f s", path, Date().timeIntervalSince(started)))
        return pipeline
    }
}
