import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation
import ImageIO
import SafeTensors

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate images from a prompt (same seed, same noise as diffusers on CPU).")

    @Option(help: "Model: a diffusers folder or a single-file SD1.x .safetensors checkpoint.") var model: String
    @Option(help: "The prompt.") var prompt: String?
    @Option(help: "A text file with one prompt per line (instead of --prompt).") var promptFile: String?
    @Option(help: "Negative prompt (classifier-free guidance's unconditional text).") var negativePrompt: String?
    @Option(help: "Seed of torch.Generator('cpu').manual_seed(seed).") var seed: UInt64 = 0
    @Option(help: "Denoising steps.") var steps: Int = 50
    @Option(help: "Classifier-free guidance scale; 1 turns guidance off.") var guidance: Float = 7.5
    @Option(help: "Image width in pixels (default: the model's).") var width: Int?
    @Option(help: "Image height in pixels (default: the model's).") var height: Int?
    @Option(help: "Sampler (default: the model folder's scheduler).") var scheduler: SamplerKind?
    @Option(help: "DDIM eta (0 = deterministic).") var eta: Float = 0
    @Option(help: "Images per prompt (all images are placed side by side in the PNG, one row per prompt).") var batchSize: Int = 1
    @Option(help: "Output PNG file.") var output: String
    @Option(help: "Also write the final latents (before VAE decoding) as safetensors, key 'latents', [B, C, h, w].")
    var latentsOut: String?
    @Option(help: "Apply a sepme shift file (repeatable).") var shift: [String] = []
    @Flag(help: "Apply shifts even if they were made for another base model.") var force = false
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        guard output.lowercased().hasSuffix(".png") else { throw ValidationError("--output must be a .png file, got \(output)") }
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    }

    /// The prompts: --prompt, or the non-empty lines of --prompt-file.
    private func prompts() throws -> [String] {
        if let prompt { return [prompt] }
        let path = promptFile!
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("--prompt-file \(path): cannot read the file")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw ValidationError("--prompt-file \(path): the file has no prompts") }
        return lines
    }

    func run() throws {
        let prompts = try prompts()
        let pipeline = try ModelLoading.pipeline(model, quiet: quiet)
        let shifts = try shift.map { try ConceptShift.read(path: $0) }
        let model = try ShiftSet(pipeline: pipeline)
        if !shifts.isEmpty { try ErasureFlags.mapping([:]) { try model.install(shifts, force: force) } }
        let options = GenerationOptions(prompts: prompts, negativePrompt: negativePrompt, seed: seed, steps: steps,
                                        guidance: guidance, width: width, height: height, scheduler: scheduler,
                                        eta: eta, imagesPerPrompt: batchSize)
        let bar = ProgressBar("denoising", quiet: quiet)
        let result = try pipeline.generate(options) { bar.update($0, $1) }
        let image = try result.images.count == 1 ? result.images[0] : RGBImage.grid(result.images, columns: batchSize)
        if let latentsOut {
            var w = SafeTensorsWriter()
            try w.add("latents", shape: result.latents.shape, floats: result.latents.scalars)
            try w.write(to: latentsOut, metadata: ["prompts": prompts.joined(separator: "\n"), "seed": String(seed), "steps": String(steps)])
        }
        try PNG.write(image, to: output)
        bar.message("wrote \(output)")
    }
}
