import ArgumentParser
import Diffusion
import Foundation
import Toy

/// `--model PATH` (required): a diffusers folder or a single-file `.safetensors` checkpoint, and
/// `--config DIR` for a single file whose architecture the embedded SD 1.x, SD 2.1 and SDXL base
/// configurations do not describe (an SD 2.x 512-base file, say). Provides: `--model`, `--config`. Validation refuses an empty value up
/// front, so no error can later name a path the user never typed.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: a diffusers folder or a single-file .safetensors checkpoint.") var model: String
    @Option(help: ModelOptions.configHelp) var config: String?

    static let configHelp = ArgumentHelp(
        "A diffusers folder whose configs, tokenizer and scheduler describe a single-file --model (default: the embedded SD 1.x, SD 2.1 or SDXL base configuration, by the file's family; its weights are not read).",
        valueName: "dir")

    func validate() throws {
        try FlagCheck.nonEmpty("--model", model)
        if let config { try FlagCheck.nonEmpty("--config", config) }
    }

    /// The loaded pipeline (timed on stderr unless `quiet`).
    func pipeline(quiet: Bool) throws -> any PromptConditionedPipeline {
        try ModelLoading.textToImagePipeline(model, config: config, quiet: quiet)
    }
}

/// `--model PATH` (optional): as `ModelOptions`, but absent means the embedded toy model.
/// Provides: `--model`, `--config`.
struct ToyModelOptions: ParsableArguments {
    @Option(help: "Model: a diffusers folder or a single-file .safetensors checkpoint (default: the embedded toy model).")
    var model: String?
    @Option(help: ModelOptions.configHelp) var config: String?

    func validate() throws {
        if let model { try FlagCheck.nonEmpty("--model", model) }
        if let config { try FlagCheck.nonEmpty("--config", config) }
        if config != nil, model == nil { throw ValidationError("--config needs --model (a single-file checkpoint)") }
    }

    /// `--model`, or the embedded toy model's folder.
    func path() throws -> String { try model ?? ToyCommandSupport.bundledModelPath() }

    func pipeline(quiet: Bool) throws -> any PromptConditionedPipeline {
        try ModelLoading.textToImagePipeline(path(), config: config, quiet: quiet)
    }
}
