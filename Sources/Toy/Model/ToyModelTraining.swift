import CLIP
import Diffusion
import Foundation
import NeuralNet
import SafeTensors
import TensorEngine

/// Trains the embedded default model from scratch: text encoder and pixel-space UNet together, on
/// the endless procedural data set, with the DDPM objective ‖ε − ε_θ(x_t, t, E(caption))‖²
/// (Ho et al. 2020, eq. 14), weighted per timestep by Min-SNR-γ (Hang et al. 2023, eq. 9), and
/// classifier-free-guidance caption dropout (Ho & Salimans 2022).
/// The exported weights are an exponential moving average of the trained ones.
public final class ToyModelTraining {
    public struct Settings: Codable, Equatable, Sendable {
        public var steps = 12000
        public var batchSize = 32
        /// Peak Adam learning rate, after a linear warm-up, then a cosine decay to 10 %.
        public var learningRate: Float = 1e-3
        public var warmupSteps = 200
        /// Probability that a caption is replaced by "" (the unconditional prompt for guidance).
        public var captionDropout: Double = 0.1
        /// EMA decay (the warm-up form min(decay, (1+n)/(10+n)) is used early on).
        public var emaDecay: Float = 0.999
        /// Min-SNR-γ loss weighting: each picture's ε-loss is scaled by min(SNR_t, γ) / SNR_t, so
        /// the nearly noise-free timesteps stop dominating the gradient; 0 gives the plain loss.
        public var minSNRGamma: Float = 5
        public var seed: UInt64 = 0
        public var architecture = ToyModelArchitecture()
        /// A model folder of this architecture whose weights the run starts from (weights and EMA),
        /// instead of a fresh initialisation: continued training of an exported model.
        public var initialModel: String?
        /// Relative weight of each style in the training pictures (`ToyDataset(styleWeights:)`);
        /// nil: uniform.
        public var styleWeights: [Double]?
        public init() {}
    }

    public let settings: Settings
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    public let unet: UNet2DConditionModel
    public let schedule: NoiseSchedule
    public private(set) var step = 0
    /// Wall-clock seconds spent training so far, over every resumed run (kept in checkpoints).
    public var secondsTrained: Double = 0
    let optimizer: Adam
    let parameters: [(String, Tensor)]
    var ema: [Tensor] = []
    let dataset: ToyDataset

    /// `loadingInitialModel` false: `settings.initialModel` is not read (a resumed run, whose checkpoint
    /// replaces every weight; the folder may be gone by then).
    public init(settings: Settings, loadingInitialModel: Bool = true) throws {
        self.settings = settings
        guard let folder = ToyVocabulary.bundledFolder else { throw ToyError("the bundled toy tokenizer is missing") }
        tokenizer = try CLIPTokenizer(folder: folder)
        (textEncoder, unet) = try settings.architecture.makeModels(seed: settings.seed)
        schedule = NoiseSchedule(try settings.architecture.schedulerConfiguration)
        parameters =
            textEncoder.namedParameters().map { ("text_encoder." + $0.0, $0.1) }
            + unet.namedParameters().map { ("unet." + $0.0, $0.1) }
        textEncoder.setRequiresGrad(true)
        unet.setRequiresGrad(true)
        optimizer = Adam(parameters: parameters.map(\.1), learningRate: settings.learningRate)
        dataset = try settings.styleWeights.map { try ToyDataset(seed: settings.seed, styleWeights: $0) } ?? ToyDataset(seed: settings.seed)
        if loadingInitialModel, let folder = settings.initialModel { try Self.loadWeights(from: folder, into: parameters) }
        ema = parameters.map { $0.1.copy() }
    }

    /// Copies the text encoder's and the UNet's weights of the model folder at `path` into
    /// `parameters` (keys "text_encoder.…", "unet.…"); every parameter must be there with its shape.
    static func loadWeights(from path: String, into parameters: [(String, Tensor)]) throws {
        let pipeline = try StableDiffusionPipeline(folder: ModelFolder(path: path))
        var byKey: [String: Tensor] = [:]
        for (key, p) in pipeline.textEncoder.namedParameters() { byKey["text_encoder." + key] = p }
        for (key, p) in pipeline.unet.namedParameters() { byKey["unet." + key] = p }
        for (key, p) in parameters {
            guard let source = byKey[key] else { throw ToyError("\(path): no weight \(key) (another architecture?)") }
            guard source.shape == p.shape else {
                throw ToyError("\(path): \(key) has shape \(source.shape), this architecture \(p.shape)")
            }
            p.pointer.update(from: source.pointer, count: p.count)
        }
    }

    /// The learning rate at (0-based) step `step`.
    public static func learningRate(step: Int, settings: Settings) -> Float {
        if step < settings.warmupSteps { return settings.learningRate * Float(step + 1) / Float(settings.warmupSteps) }
        let t = Double(step - settings.warmupSteps) / Double(max(1, settings.steps - settings.warmupSteps))
        return settings.learningRate * Float(0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * min(1, t))))
    }

    /// Min-SNR-γ weight of the ε-loss at a timestep with cumulative alpha `alphaCumprod`
    /// (SNR = ᾱ / (1 − ᾱ)); 1 when `gamma` is 0.
    public static func lossWeight(alphaCumprod: Float, gamma: Float) -> Float {
        guard gamma > 0 else { return 1 }
        let snr = alphaCumprod / (1 - alphaCumprod)
        return min(snr, gamma) / snr
    }

    /// One optimisation step on batch number `step`; returns the (weighted) loss.
    @discardableResult
    public func trainStep() -> Float {
        let b = settings.batchSize
        let batch = dataset.batch(start: step * b, count: b)
        // Per-step randomness from (seed, step), so a resumed run draws exactly what it would have.
        var g = PyTorchGenerator(seed: (settings.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step)) & 0xFFFF_FFFF_FFFF)
        let drop = Tensor.rand([b], generator: &g)
        let captions = batch.samples.enumerated().map { i, s in Double(drop.pointer[i]) < settings.captionDropout ? "" : s.caption }
        let timesteps = ((try? g.randint(low: 0, high: Int64(schedule.alphasCumprod.count), count: b)) ?? []).map { Int($0) }
        let noise = Tensor.randn(batch.images.shape, generator: &g)
        let xt = GradMode.withNoGrad { schedule.addNoise(batch.images, noise: noise, timesteps: timesteps) }

        optimizer.learningRate = Self.learningRate(step: step, settings: settings)
        optimizer.zeroGrad()
        let context = textEncoder(captions.map { tokenizer.encode($0) }).lastHiddenState  // [B, L, d]
        let predicted = unet(xt, timesteps: timesteps.map(Float.init), encoderHiddenStates: context)  // [B, 3, 32, 32]
        let diff = predicted - noise
        let weights = Tensor(
            timesteps.map { Self.lossWeight(alphaCumprod: schedule.alphasCumprod[$0], gamma: settings.minSNRGamma) },
            shape: [b, 1, 1, 1])
        let loss = (diff * diff * weights).mean()
        loss.backward()
        optimizer.update()
        updateEMA()
        step += 1
        return loss.item
    }

    func updateEMA() {
        let n = Float(optimizer.step)
        let d = min(settings.emaDecay, (1 + n) / (10 + n))
        for (i, (_, p)) in parameters.enumerated() {
            let e = ema[i].pointer
            let q = p.pointer
            for j in 0..<p.count { e[j] = d * e[j] + (1 - d) * q[j] }
        }
    }

    // MARK: Checkpoints

    /// Everything needed to continue: step, weights, EMA weights and Adam moments (one safetensors file).
    public func saveCheckpoint(path: String) throws {
        var w = SafeTensorsWriter()
        let adam = optimizer.state
        for (i, (key, p)) in parameters.enumerated() {
            try w.add("param." + key, shape: p.shape, floats: p.scalars)
            try w.add("ema." + key, shape: p.shape, floats: ema[i].scalars)
            try w.add("adam_m." + key, shape: p.shape, floats: adam.m[i].scalars)
            try w.add("adam_v." + key, shape: p.shape, floats: adam.v[i].scalars)
        }
        let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try w.write(
            to: path,
            metadata: [
                "step": String(step), "adam_step": String(adam.step), "settings": json,
                "seconds": String(secondsTrained)
            ])
    }

    /// Restores a checkpoint written by `saveCheckpoint` with the same settings.
    public func loadCheckpoint(path: String) throws {
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata["settings"],
            let saved = try? JSONDecoder().decode(Settings.self, from: Data(json.utf8))
        else {
            throw ToyError("\(path): not a train-toy checkpoint (metadata 'settings' missing or invalid)")
        }
        guard saved.architecture == settings.architecture, saved.seed == settings.seed, saved.batchSize == settings.batchSize else {
            throw ToyError("\(path): the checkpoint was made with other settings (architecture, seed or batch size differ)")
        }
        guard let s = file.metadata["step"].flatMap(Int.init), let a = file.metadata["adam_step"].flatMap(Int.init) else {
            throw ToyError("\(path): metadata 'step' missing")
        }
        var m: [Tensor] = []
        var v: [Tensor] = []
        for (i, (key, p)) in parameters.enumerated() {
            try file.copyFloats("param." + key, into: p.pointer, count: p.count)
            try file.copyFloats("ema." + key, into: ema[i].pointer, count: p.count)
            let mi = Tensor(zeros: p.shape)
            let vi = Tensor(zeros: p.shape)
            try file.copyFloats("adam_m." + key, into: mi.pointer, count: p.count)
            try file.copyFloats("adam_v." + key, into: vi.pointer, count: p.count)
            m.append(mi)
            v.append(vi)
        }
        try optimizer.restore(step: a, m: m, v: v)
        step = s
        secondsTrained = file.metadata["seconds"].flatMap(Double.init) ?? 0
    }

    /// Copies of the models holding the EMA weights (what gets exported and evaluated).
    public func emaModels() throws -> (text: CLIPTextModel, unet: UNet2DConditionModel) {
        let text = CLIPTextModel(configuration: settings.architecture.textConfiguration)
        let unet = try UNet2DConditionModel(configuration: settings.architecture.unetConfiguration, source: "toy architecture")
        let byKey = Dictionary(uniqueKeysWithValues: parameters.enumerated().map { ($0.element.0, ema[$0.offset]) })
        for (prefix, module) in [("text_encoder.", text as Module), ("unet.", unet as Module)] {
            for (key, p) in module.namedParameters() {
                guard let e = byKey[prefix + key] else { throw ToyError("EMA weights have no \(prefix + key)") }
                p.pointer.update(from: e.pointer, count: p.count)
            }
        }
        return (text, unet)
    }
}
