import Diffusion
import Foundation
import ImageIO
import SafeTensors
import TensorEngine

/// x_0 latents a concept is unlearned on (method.md §2 "Training data"): images the original model
/// generates for the concept's prompt (one seed each, cached on disk so a rerun does not regenerate
/// them), or the user's own images encoded by the VAE.
public struct TrainingLatents {
    /// One [1, C, h, w] tensor per image.
    public let latents: [Tensor]
    /// Seeds of generated images (empty for user images).
    public let seeds: [UInt64]

    /// Generates (or reads from `cacheDirectory`) `count` images for `prompt`.
    public static func generated(pipeline: StableDiffusionPipeline, prompt: String, count: Int,
                                 hyperparameters h: ErasureHyperparameters, fingerprint: String,
                                 cacheDirectory: URL?, progress: ((Int, Int) -> Void)? = nil) throws -> TrainingLatents {
        guard count >= 1 else { throw ErasureError.invalidArgument("--images must be at least 1, got \(count)") }
        if let dir = cacheDirectory { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        var out: [Tensor] = []
        var seeds: [UInt64] = []
        // The sampler that makes the images (also names the cache file, so a cache never mixes samplers).
        let sampler = try SamplerKind.resolve(h.generationScheduler, config: pipeline.schedulerConfiguration).rawValue
        for i in 0..<count {
            let seed = h.seed &+ UInt64(i)
            seeds.append(seed)
            let name = "\(ConceptShift.slug(prompt))-\(fingerprint)-\(sampler)-s\(h.generationSteps)-g\(h.generationGuidance)-seed\(seed).safetensors"
            let cached = cacheDirectory?.appendingPathComponent(name)
            if let cached, let file = try? SafeTensorsFile(path: cached.path), let info = try? file.info("latents") {
                out.append(Tensor(try file.floats("latents"), shape: info.shape))
            } else {
                let options = GenerationOptions(prompts: [prompt], seed: seed, steps: h.generationSteps,
                                                guidance: Float(h.generationGuidance), scheduler: h.generationScheduler)
                let result = try pipeline.generate(options)
                out.append(result.latents)
                if let cached {
                    var w = SafeTensorsWriter()
                    try w.add("latents", shape: result.latents.shape, floats: result.latents.scalars)
                    try w.write(to: cached.path, metadata: ["prompt": prompt, "seed": String(seed)])
                }
            }
            progress?(i + 1, count)
        }
        return TrainingLatents(latents: out, seeds: seeds)
    }

    /// Encodes every PNG in `folder` (resized images are not accepted: they must have the model's size).
    public static func fromImages(folder: URL, pipeline: StableDiffusionPipeline) throws -> TrainingLatents {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?
            .filter { $0.lowercased().hasSuffix(".png") }.sorted() ?? []
        guard !files.isEmpty else {
            throw ErasureError.invalidArgument("\(folder.path): no PNG images to train on")
        }
        let size = pipeline.defaultImageSize
        var out: [Tensor] = []
        for f in files {
            let path = folder.appendingPathComponent(f).path
            let img = try PNG.read(path: path)
            guard img.width == size.width, img.height == size.height else {
                throw ErasureError.invalidArgument("\(path): image is \(img.width)x\(img.height), the model expects \(size.width)x\(size.height)")
            }
            out.append(try pipeline.encodeFromPixels(ImageTensorConversion.pixels(fromImages: [img])))
        }
        return TrainingLatents(latents: out, seeds: [])
    }
}
