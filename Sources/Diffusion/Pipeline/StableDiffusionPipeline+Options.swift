import Foundation
import ImageIO
import TensorEngine

extension TextToImagePipeline {
    /// The sampler of a run: `options.scheduler` (else the folder's own) built from the folder's
    /// scheduler configuration, with its timesteps set. A setting the sampler cannot use names the
    /// model it came from.
    func runScheduler(_ options: GenerationOptions) throws -> Scheduler {
        let scheduler: Scheduler
        do {
            scheduler = try SamplerKind.resolve(options.scheduler, config: schedulerConfiguration)
                .makeScheduler(config: schedulerConfiguration, eta: options.eta)
        } catch SchedulerError.invalidConfig(let sampler, let reason) {
            throw SchedulerError.invalidConfig("\(source): scheduler configuration for \(sampler)", reason)
        }
        try scheduler.setTimesteps(options.steps)
        return scheduler
    }

    /// Latents → images in [-1, 1] with the decoder's gradient-free products in `precision` (bf16:
    /// `PrecisionMode`). In bf16 each of the decoder's weights is converted for its product and dropped when
    /// the product returns: a decode uses every weight once, so kept copies would save no conversion within
    /// it and would hold their memory (a fresh block to fill) until the next decode.
    // latents: [B, C, h, w] -> [B, 3, H, W]
    public func decodeToPixels(_ latents: Tensor, precision: ComputePrecision) throws -> Tensor {
        try PrecisionMode.with(precision, cache: BF16WeightCache(retention: .nothing)) { try decodeToPixels(latents) }
    }

    /// Runs a whole generation (`options.precision` applies to the UNet and the VAE decoder). Latents that stop being finite (a model or schedule that diverges)
    /// throw `PipelineError.nonFiniteLatents` naming the step, as do non-finite decoded pixels;
    /// no NaN reaches image conversion.
    public func generate(_ options: GenerationOptions, progress: ((Int, Int) -> Void)? = nil) throws -> GenerationResult {
        let run = try makeRun(options)
        try run.runChecked(progress: progress)
        let pixels = try decodeToPixels(run.latents, precision: options.precision)
        guard pixels.isFinite else { throw PipelineError.nonFinitePixels(source: source) }
        return GenerationResult(latents: run.latents, images: ImageTensorConversion.images(fromPixels: pixels))
    }

    /// diffusers' `prepare_latents`: one torch.randn(shape, generator) for the whole batch, times
    /// `init_noise_sigma`; the generator goes on into the run (the ancestral samplers' noise).
    // -> latents [batch, C, height / f, width / f]
    func initialLatents(batch: Int, width: Int, height: Int, seed: UInt64, scheduler: Scheduler) -> (
        latents: Tensor, generator: PyTorchGenerator
    ) {
        var generator = PyTorchGenerator(seed: seed)
        let f = vaeScaleFactor
        let latents = Tensor.randn([batch, latentChannels, height / f, width / f], generator: &generator) * scheduler.initNoiseSigma
        return (latents, generator)
    }

    /// Checks `options` before anything is allocated and returns the image size (width, height):
    /// prompts and batch sizes, finite guidance and eta in their ranges, a positive image size that
    /// the scale factor divides, and a rough memory need (latents, UNet activations and attention
    /// at the finest attended resolution, VAE decoder activations) no larger than the machine's
    /// physical memory. Errors name the option by its `GenerationOptions` name, never a CLI flag.
    @discardableResult
    public func validate(_ options: GenerationOptions) throws -> (width: Int, height: Int) {
        guard !options.prompts.isEmpty else { throw PipelineError.invalidArgument("no prompt given") }
        let maxBatch = GenerationOptions.maximumBatch
        guard options.prompts.count <= maxBatch else {
            throw PipelineError.invalidOption(name: "prompt count", value: "\(options.prompts.count)", allowed: "1...\(maxBatch)")
        }
        guard (1...maxBatch).contains(options.imagesPerPrompt) else {
            throw PipelineError.invalidOption(name: "imagesPerPrompt", value: "\(options.imagesPerPrompt)", allowed: "1...\(maxBatch)")
        }
        let g = GenerationOptions.maximumGuidance
        guard options.guidance.isFinite, abs(options.guidance) <= g else {
            throw PipelineError.invalidOption(name: "guidance", value: "\(options.guidance)", allowed: "a finite number in -\(Int(g))...\(Int(g))")
        }
        // DDIM's η (Song et al. 2021, eq. 16): 0 is deterministic, 1 the DDPM posterior; larger values
        // make 1 − ᾱ_prev − σ² negative (a square root of a negative number).
        guard options.eta.isFinite, (0...1).contains(options.eta) else {
            throw PipelineError.invalidOption(name: "eta", value: "\(options.eta)", allowed: "a number in 0...1")
        }
        let width = options.width ?? defaultImageSize.width
        let height = options.height ?? defaultImageSize.height
        let f = vaeScaleFactor
        let side = GenerationOptions.maximumSide
        guard width > 0, height > 0, width <= side, height <= side, width % f == 0, height % f == 0 else {
            throw PipelineError.invalidSize(width: width, height: height, factor: f)
        }
        let batch = options.prompts.count * options.imagesPerPrompt
        let needed = estimatedBytes(batch: batch, width: width, height: height, guided: options.usesGuidance)
        let memory = ProcessInfo.processInfo.physicalMemory
        guard needed <= Double(memory) else {
            throw PipelineError.requestTooLarge(
                bytes: UInt64(min(needed, Double(UInt64.max / 2))), physicalMemory: memory,
                what: "generating \(batch) image(s) of \(width)x\(height)")
        }
        return (width, height)
    }

    /// A rough figure (bytes, float32) for a generation: the UNet's activations at full latent
    /// resolution (about 8 maps of the first block's width) plus one attention matrix per head at the
    /// finest resolution that has attention, for each of the k = 2 (guided) or 1 contexts; the VAE
    /// decoder's activations at image resolution (about 3 maps of its first block's width); latents.
    func estimatedBytes(batch: Int, width: Int, height: Int, guided: Bool) -> Double {
        let f = Double(vaeScaleFactor)
        let b = Double(batch)
        let k: Double = guided ? 2 : 1
        let cells = (Double(height) / f) * (Double(width) / f)
        let c = unet.configuration
        let firstWidth = Double(c.blockOutChannels.first ?? 1)
        let attended = c.downBlockTypes.firstIndex(of: .crossAttention) ?? max(c.blockOutChannels.count - 1, 0)
        let heads = Double((c.numAttentionHeads ?? c.attentionHeadDim)?.all.first ?? 8)
        let attendedCells = cells / pow(4, Double(attended))
        let unetBytes = 4 * b * k * (8 * firstWidth * cells + heads * attendedCells * attendedCells)
        let vaeBytes = vaeConfiguration.map { 4 * b * 3 * Double($0.blockOutChannels.first ?? 1) * Double(width) * Double(height) } ?? 0
        let latentBytes = 4 * b * Double(latentChannels) * cells
        return max(unetBytes, vaeBytes) + latentBytes
    }
}
