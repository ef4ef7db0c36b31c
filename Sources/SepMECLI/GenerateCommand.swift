import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation
import ImageIO
import SafeTensors
import TensorEngine

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate images from a prompt (same seed, same noise as diffusers on CPU).",
        discussion: """
            Prompts of a --prompt-file are generated \(promptsPerCall) per pipeline call, the k-th group (from 0) \
            with seed --seed + k, and placed into the output as they are done: a file of up to \(promptsPerCall) \
            prompts gives exactly the images of one diffusers call with all of them.
            """)

    /// Prompts per pipeline call: bounds the memory of a long --prompt-file.
    static let promptsPerCall = 8
    /// Largest --width / --height and --batch-size: the pipeline's own bounds.
    static let maxImageSide = GenerationOptions.maximumSide
    static let maxBatchSize = GenerationOptions.maximumBatch
    /// Largest --prompt-file (bytes) and prompt count.
    static let maxPromptFileBytes = 16 << 20
    static let maxPrompts = 100_000

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "The prompt.") var prompt: String?
    @Option(help: "A text file with one prompt per line (instead of --prompt).") var promptFile: String?
    @Option(help: "Negative prompt (classifier-free guidance's unconditional text).") var negativePrompt: String?
    @OptionGroup var seedOption: SeedOption
    @OptionGroup var sampling: SamplingOptions<StableDiffusionSamplingDefaults>
    @OptionGroup var precisionOption: PrecisionOption
    @Option(help: "Image width in pixels (default: the model's).") var width: Int?
    @Option(help: "Image height in pixels (default: the model's).") var height: Int?
    @Option(help: "DDIM eta in [0, 1] (0 = deterministic).") var eta: Float = 0
    @Option(help: "Images per prompt (all images are placed side by side in the PNG, one row per prompt).") var batchSize: Int = 1
    @Option(help: "Output PNG file.") var output: String
    @Option(help: "Also write the final latents (before VAE decoding) as safetensors, key 'latents', [B, C, h, w].")
    var latentsOut: String?
    @Option(help: "Apply a sepme shift file (repeatable).") var shift: [String] = []
    @Flag(help: "Apply shifts even if they were made for another base model.") var force = false
    @OptionGroup var verbosity: QuietOption

    var quiet: Bool { verbosity.quiet }

    func validate() throws {
        try FlagCheck.suffix("--output", output, ".png")
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        if let width { try FlagCheck.range("--width", width, 1...Self.maxImageSide) }
        if let height { try FlagCheck.range("--height", height, 1...Self.maxImageSide) }
        try FlagCheck.finite("--eta", eta, 0...1)
        try FlagCheck.range("--batch-size", batchSize, 1...Self.maxBatchSize)
        if let promptFile { try FlagCheck.nonEmpty("--prompt-file", promptFile) }
        if let latentsOut {
            try FlagCheck.nonEmpty("--latents-out", latentsOut)
            guard !OutputPath.same(latentsOut, output) else {
                throw ValidationError("--latents-out and --output are the same file (\(output)); give two different files")
            }
        }
        // Before the model is read: the decoded pixels of one call alone must fit.
        if let width, let height {
            try FlagCheck.memory(
                "--width/--height \(width)x\(height) with --batch-size \(batchSize)",
                bytes: Double(batchSize) * Double(width) * Double(height) * 3 * 4 * 2)
        }
    }

    /// The prompts: --prompt, or the non-empty lines of --prompt-file (a regular file of bounded size).
    private func readPrompts() throws -> [String] {
        if let prompt { return [prompt] }
        guard let path = promptFile else { return [] }
        let text = try BoundedTextFile.read(path, flag: "--prompt-file", maxBytes: Self.maxPromptFileBytes)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw CommandLineError("--prompt-file \(path): the file has no prompts") }
        guard lines.count <= Self.maxPrompts else {
            throw CommandLineError("--prompt-file \(path): \(lines.count) prompts; at most \(Self.maxPrompts) per run")
        }
        return lines
    }

    func run() throws {
        try CommandFailure.reporting {
            Interrupt.install()
            let prompts = try readPrompts()
            try OutputPath.checkWritable("--output", output)
            if let latentsOut { try OutputPath.checkWritable("--latents-out", latentsOut) }
            let pipeline = try ModelLoading.textToImagePipeline(modelOptions.model, config: modelOptions.config, quiet: quiet)
            let shifts = try shift.map { try ConceptShift.read(path: $0) }
            let model = try ShiftSet(pipeline: pipeline)
            if !shifts.isEmpty { try ErasureFlags.mapping([:]) { try model.install(shifts, force: force) } }
            try generate(prompts, with: pipeline)
        }
    }

    /// Generates `prompts` in groups of `promptsPerCall`, filling the contact sheet (and the latents)
    /// as each group finishes; writes both files at the end, each atomically.
    private func generate(_ prompts: [String], with pipeline: any TextToImagePipeline) throws {
        let size = (width: width ?? pipeline.defaultImageSize.width, height: height ?? pipeline.defaultImageSize.height)
        try checkMemory(pipeline, prompts: prompts.count, size: size)
        let groups = stride(from: 0, to: prompts.count, by: Self.promptsPerCall).map {
            Array(prompts[$0..<min($0 + Self.promptsPerCall, prompts.count)])
        }
        let bar = ProgressBar("denoising", quiet: quiet)
        var sheet: ContactSheet?
        var latents: [Float] = []
        var latentShape: [Int] = []
        // bf16: the UNet's weights are converted once, for every group (the decoder's for each product),
        // and the fp32 weights the conversion replaces are released: this process runs the UNet in bf16 only.
        let precision = precisionOption.precision
        precisionOption.noteWhereBF16DoesNotPay(quiet: quiet)
        let bf16Weights = precision == .bf16 ? BF16WeightCache(retention: .copiesReplacingWeights) : nil
        for (k, group) in groups.enumerated() {
            let options = GenerationOptions(
                prompts: group, negativePrompt: negativePrompt, seed: seedOption.seed &+ UInt64(k),
                steps: sampling.steps, guidance: sampling.guidance(pipelineDefault: pipeline.defaultGuidanceScale), width: width, height: height,
                scheduler: sampling.scheduler, eta: eta, imagesPerPrompt: batchSize, precision: precision,
                bf16Weights: bf16Weights)
            let run = try pipeline.makeRun(options)
            let total = run.timesteps.count * groups.count
            while let t = run.currentTimestep {
                run.step()
                guard run.latentsAreFinite else {
                    throw PipelineError.nonFiniteLatents(step: run.stepIndex, steps: run.timesteps.count, timestep: t)
                }
                bar.update(k * run.timesteps.count + run.stepIndex, total)
                try Interrupt.check(outcome: "nothing was written")
            }
            let pixels = try pipeline.decodeToPixels(run.latents, precision: precision)
            guard pixels.isFinite else {
                throw CommandLineError("the model produced non-finite values (NaN or infinity) for prompt '\(group[0])'; nothing was written")
            }
            let images = ImageTensorConversion.images(fromPixels: pixels)
            if sheet == nil, let first = images.first {
                sheet = ContactSheet(count: prompts.count * batchSize, columns: batchSize, tileWidth: first.width, tileHeight: first.height)
            }
            for (i, image) in images.enumerated() { sheet?.place(image, at: k * Self.promptsPerCall * batchSize + i) }
            if latentsOut != nil {
                latents.append(contentsOf: run.latents.scalars)
                latentShape = [prompts.count * batchSize] + run.latents.shape.dropFirst()
            }
        }
        guard let sheet else { throw CommandLineError("no image was generated") }
        if let latentsOut {
            var w = SafeTensorsWriter()
            try w.add("latents", shape: latentShape, floats: latents)
            try w.write(
                to: latentsOut,
                metadata: [
                    "prompts": prompts.joined(separator: "\n"), "seed": String(seedOption.seed),
                    "steps": String(sampling.steps)
                ])
        }
        try PNG.write(sheet.image, to: output)
        bar.message("wrote \(output)")
    }
}
