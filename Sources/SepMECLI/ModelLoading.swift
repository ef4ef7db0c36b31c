import ConceptErasure
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

    /// Loads `--model` for text-to-image: a Stable Diffusion XL diffusers folder into
    /// `StableDiffusionXLPipeline`, anything else as `pipeline(_:quiet:)` does.
    static func textToImagePipeline(_ path: String, quiet: Bool) throws -> any TextToImagePipeline {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return try pipeline(path, quiet: quiet)
        }
        let folder = try ModelFolder(path: path)
        guard folder.isStableDiffusionXL else { return try pipeline(path, quiet: quiet) }
        let bar = ProgressBar("loading", quiet: quiet)
        let started = Date()
        let pipeline = try StableDiffusionXLPipeline(folder: folder)
        bar.message(String(format: "loaded %@ in %.1f s", path, Date().timeIntervalSince(started)))
        return pipeline
    }

    /// The model a plan file (at `planPath`) was made on, from `path` (`--model`) or the plan's own
    /// path, checked to be that model by its fingerprint.
    static func shiftSet(for file: ErasurePlanFile, planPath: String, path: String?, quiet: Bool) throws -> ShiftSet {
        let set = try ShiftSet(pipeline: pipeline(path ?? file.model.path, quiet: quiet))
        guard set.fingerprint == file.model.fingerprint else {
            throw ErasureError.fingerprintMismatch(path: planPath, expected: file.model.fingerprint, found: set.fingerprint)
        }
        return set
    }
}
