import Diffusion
import Foundation
import ImageIO
import SafeTensors
import TensorEngine

/// The x_0 latents a concept is unlearned on (method.md §2, "training data").
public struct TrainingLatents {
    /// One [1, C, h, w] tensor per image.
    public let latents: [Tensor]
    /// Seeds of generated images (empty for user images).
    public let seeds: [UInt64]
    /// How many prompts generated images cycle over (image i shows prompt i mod `prompts`).
    public let prompts: Int
    /// Seconds their generation took, cached images included (`TrainingRecord.imageSeconds`).
    public let generationSeconds: Double

    public init(latents: [Tensor], seeds: [UInt64], prompts: Int = 1, generationSeconds: Double = 0) {
        self.latents = latents
        self.seeds = seeds
        self.prompts = max(1, prompts)
        self.generationSeconds = generationSeconds
    }

    /// The x_0 of `iteration` (the images in turn) and the index of the prompt it is conditioned
    /// on among `promptCount`: the prompt a generated image was made from; for user images (no
    /// prompt of their own) the prompts in turn.
    func draw(iteration: Int, promptCount: Int) -> (latent: Tensor, prompt: Int) {
        let j = iteration % latents.count
        return (latents[j], (seeds.isEmpty ? iteration : j) % max(1, promptCount))
    }
}

/// Where training latents come from: images the original model generates for the concept's prompt
/// (one seed each, cached on disk with the seconds each took, so that a rerun or a resume neither
/// regenerates them nor drops their time from the erasure's), or the
/// user's own images encoded by the VAE. Generation polls the observer's stop request between
/// denoising steps.
struct TrainingImages {
    let pipeline: any PromptConditionedPipeline
    let hyperparameters: ErasureHyperparameters
    let fingerprint: String
    /// nil: no cache.
    let cache: URL?
    let observer: ErasureObserver

    /// `hyperparameters.images` generated images, seeds seed, seed + 1, ..., image i of
    /// `prompts[i % prompts.count]` (one prompt: every image of it, as for a single-prompt concept).
    func generated(prompts: [String]) throws -> TrainingLatents {
        guard !prompts.isEmpty else { throw ErasureError.invalidPlan(field: "concepts", reason: "a concept has no prompt") }
        let h = hyperparameters
        if let cache {
            do { try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true) } catch {
                throw ErasureError.output(path: cache.path, reason: "cannot create the training-image cache")
            }
        }
        // The sampler that makes the images also names the cache file, so a cache never mixes samplers.
        let sampler = try SamplerKind.resolve(h.generationScheduler, config: pipeline.schedulerConfiguration)
        var out: [Tensor] = []
        var seeds: [UInt64] = []
        var seconds = 0.0
        for i in 0..<h.images {
            let prompt = prompts[i % prompts.count]
            let seed = h.seed &+ UInt64(i)
            seeds.append(seed)
            let size = h.trainSize.map { "-px\($0)" } ?? ""
            let name =
                "\(ConceptShift.slug(prompt))-\(fingerprint)-\(sampler.rawValue)-s\(h.generationSteps)-g\(h.generationGuidance)\(size)-seed\(seed).safetensors"
            let cached = cache?.appendingPathComponent(name)
            if let cached, let entry = Self.readCached(cached, prompt: prompt) {
                out.append(entry.latents)
                seconds += entry.seconds
            } else {
                let started = Date()
                let latents = try generate(prompt: prompt, seed: seed, sampler: sampler)
                let took = Date().timeIntervalSince(started)
                out.append(latents)
                seconds += took
                if let cached {
                    var w = SafeTensorsWriter()
                    try w.add("latents", shape: latents.shape, floats: latents.scalars)
                    try w.write(to: cached.path, metadata: ["prompt": prompt, "seed": String(seed), "seconds": String(took)])
                }
            }
            observer.images(prompts[0], i + 1, h.images)
        }
        return TrainingLatents(latents: out, seeds: seeds, prompts: prompts.count, generationSeconds: seconds)
    }

    /// One image's final latents (no VAE decoding: training needs x_0 in latent space). [1, C, h, w]
    private func generate(prompt: String, seed: UInt64, sampler: SamplerKind) throws -> Tensor {
        let h = hyperparameters
        let run = try pipeline.makeRun(h.generation(prompt: prompt, seed: seed, scheduler: sampler))
        while run.step() {
            if observer.shouldStop() { throw ErasureError.interrupted(checkpoint: nil) }
        }
        guard run.latents.isFinite else {
            throw ErasureError.trainingImages(
                path: prompt,
                reason:
                    "the model's sampling of this prompt (seed \(seed)) produced non-finite latents; the model or its scheduler configuration is broken"
            )
        }
        return run.latents
    }

    /// A cached image's latents and the seconds its generation took (0 where the file predates that
    /// record), or nil when the file is missing, not a sound cache entry, or recorded as made from
    /// another prompt with the same slug ("" and "concept" share one); it is then regenerated and rewritten.
    private static func readCached(_ url: URL, prompt: String) -> (latents: Tensor, seconds: Double)? {
        guard let file = try? SafeTensorsFile(path: url.path), file.metadata["prompt"].map({ $0 == prompt }) ?? true,
            let info = try? file.info("latents"),
            info.shape.count == 4, info.shape[0] == 1, let values = try? file.floats("latents"),
            values.allSatisfy(\.isFinite)
        else { return nil }
        let seconds = file.metadata["seconds"].flatMap(Double.init).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } ?? 0
        return (Tensor(values, shape: info.shape), seconds)
    }

    /// Every PNG in `folder`, encoded by the VAE (images must have the training size, `trainSize` or
    /// the model's: sepme does not resize them).
    func fromFolder(_ folder: URL) throws -> TrainingLatents {
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
            throw ErasureError.trainingImages(path: folder.path, reason: "cannot list the folder")
        }
        let files = entries.filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !files.isEmpty else { throw ErasureError.trainingImages(path: folder.path, reason: "no PNG images to train on") }
        let native = pipeline.defaultImageSize
        let size = (width: hyperparameters.trainSize ?? native.width, height: hyperparameters.trainSize ?? native.height)
        var out: [Tensor] = []
        for f in files {
            if observer.shouldStop() { throw ErasureError.interrupted(checkpoint: nil) }
            let path = folder.appendingPathComponent(f).path
            let img = try PNG.read(path: path)
            guard img.width == size.width, img.height == size.height else {
                throw ErasureError.trainingImages(
                    path: path, reason: "the image is \(img.width)x\(img.height), the model expects \(size.width)x\(size.height)")
            }
            out.append(try pipeline.encodeFromPixels(ImageTensorConversion.pixels(fromImages: [img])))
        }
        return TrainingLatents(latents: out, seeds: [])
    }
}
