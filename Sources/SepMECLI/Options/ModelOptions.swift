import ArgumentParser
import Diffusion
import Foundation
import Toy

/// `--model PATH` (required): a diffusers folder or a single-file SD1.x `.safetensors` checkpoint.
/// Provides: `--model`. Validation refuses an empty value up front, so no error can later name a
/// path the user never typed.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: a diffusers folder or a single-file SD1.x .safetensors checkpoint.") var model: String

    func validate() throws { try FlagCheck.nonEmpty("--model", model) }

    /// The loaded pipeline (timed on stderr unless `quiet`).
    func pipeline(quiet: Bool) throws -> StableDiffusionPipeline { try ModelLoading.pipeline(model, quiet: quiet) }
}

/// `--model PATH` (optional): as `ModelOptions`, but absent means the embedded toy model.
/// Provides: `--model`.
struct ToyModelOptions: ParsableArguments {
    @Option(help: "Model: a diffusers folder (default: the embedded toy model).") var model: String?

    func validate() throws {
        if let model { try FlagCheck.nonEmpty("--model", model) }
    }

    /// `--model`, or the embedded toy model's folder.
    func path() throws -> String { try model ?? ToyCommandSupport.bundledModelPath() }

    func pipeline(quiet: Bool) throws -> StableDiffusionPipeline { try ModelLoading.pipeline(path(), quiet: quiet) }
}
