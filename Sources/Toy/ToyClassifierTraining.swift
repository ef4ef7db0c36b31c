import TensorEngine

/// Accuracy of each classifier head on a set of samples (fractions in [0, 1]).
public struct ToyClassifierAccuracy: Equatable, Sendable, CustomStringConvertible {
    /// Over non-watermark samples.
    public var shape: Double, colour: Double, style: Double
    /// Over all samples (is / is not the logo).
    public var watermark: Double
    /// Samples evaluated, and how many of them were the watermark.
    public var count: Int, watermarkCount: Int

    /// The lowest of the four accuracies.
    public var minimum: Double { min(shape, colour, style, watermark) }

    public var description: String {
        func pct(_ v: Double) -> String { String(Double(Int((v * 10000).rounded())) / 100) + "%" }
        return "shape \(pct(shape)), colour \(pct(colour)), style \(pct(style)), watermark \(pct(watermark)) "
            + "(\(count) samples, \(watermarkCount) watermark)"
    }
}

/// Trains and evaluates `ToyClassifier` on freshly generated toy batches.
public enum ToyClassifierTraining {
    /// Training settings.
    public struct Settings: Sendable {
        public var steps: Int = 8000
        public var batchSize: Int = 64
        /// Peak Adam learning rate, reached after `warmupSteps` and decayed linearly to 2 % at the end.
        public var learningRate: Float = 2e-3
        public var warmupSteps: Int = 100
        public var seed: UInt64 = 0
        public var width: Int = 32
        /// Train on `ToyImageAugmentation`-degraded pictures (robust to generated-image artifacts).
        public var augment = true
        public init() {}
    }

    /// The learning rate at step `step` (0-based).
    static func learningRate(step: Int, settings: Settings) -> Float {
        let peak = settings.learningRate
        if step < settings.warmupSteps { return peak * Float(step + 1) / Float(settings.warmupSteps) }
        let t = Float(step - settings.warmupSteps) / Float(max(1, settings.steps - settings.warmupSteps))
        return peak * (1 - 0.98 * t)
    }

    /// Trains a classifier with Adam; batch `t` is samples t*B..<(t+1)*B of `ToyDataset(seed:)` so no
    /// picture repeats. `progress(step, total, loss)` is called after every step; returning false stops early.
    public static func train(settings: Settings, progress: (Int, Int, Float) -> Bool = { _, _, _ in true }) -> ToyClassifier {
        let model = ToyClassifier(configuration: .init(width: settings.width), seed: settings.seed)
        model.setRequiresGrad(true)
        let optimizer = Adam(parameters: model.parameters(), learningRate: settings.learningRate)
        let data = ToyDataset(seed: settings.seed)
        for step in 0..<settings.steps {
            optimizer.learningRate = learningRate(step: step, settings: settings)
            var batch = data.batch(start: step * settings.batchSize, count: settings.batchSize)
            if settings.augment {
                batch = ToyBatch(images: ToyImageAugmentation.augment(batch.images, seed: settings.seed &+ UInt64(step)), samples: batch.samples)
            }
            optimizer.zeroGrad()
            let loss = self.loss(model: model, batch: batch)
            loss.backward()
            optimizer.update()
            if !progress(step + 1, settings.steps, loss.item) { break }
        }
        model.setRequiresGrad(false)
        return model
    }

    /// Sum of the four heads' mean cross-entropies (shape / colour / style over non-watermark samples).
    public static func loss(model: ToyClassifier, batch: ToyBatch) -> Tensor {
        let logits = model(batch.images)
        let s = batch.samples
        let valid = s.map { !$0.isWatermark }
        return crossEntropy(logits.shape, labels: s.map(\.shape), mask: valid)
            + crossEntropy(logits.colour, labels: s.map(\.colour), mask: valid)
            + crossEntropy(logits.style, labels: s.map(\.style), mask: valid)
            + crossEntropy(logits.watermark, labels: s.map { $0.isWatermark ? 1 : 0 }, mask: s.map { _ in true })
    }

    /// Mean over masked rows of -log softmax(logits)[label] (torch.nn.functional.cross_entropy),
    /// via a detached row maximum for stability.
    // logits: [B, C] -> scalar
    public static func crossEntropy(_ logits: Tensor, labels: [Int], mask: [Bool]) -> Tensor {
        let b = logits.shape[0]
        let c = logits.shape[1]
        let p = logits.pointer
        var maxima = [Float](repeating: 0, count: b)
        var oneHot = [Float](repeating: 0, count: b * c)
        var rows = 0
        for r in 0..<b {
            maxima[r] = (0..<c).map { p[r * c + $0] }.max()!
            if mask[r] {
                oneHot[r * c + labels[r]] = 1
                rows += 1
            }
        }
        guard rows > 0 else { return (logits * 0).sum() }
        let z = logits - Tensor(maxima, shape: [b, 1])
        let logProb = z - z.exp().sum(axes: [1], keepDims: true).log()
        return -(logProb * Tensor(oneHot, shape: [b, c])).sum() / Float(rows)
    }

    /// Accuracy per head on samples start..<start+count of `dataset`, in batches of `batchSize`.
    public static func evaluate(
        _ model: ToyClassifier, dataset: ToyDataset, start: Int = 0, count: Int,
        batchSize: Int = 128
    ) -> ToyClassifierAccuracy {
        var correct = [0, 0, 0, 0]
        var labelled = 0
        var watermarks = 0
        var done = 0
        while done < count {
            let n = min(batchSize, count - done)
            let batch = dataset.batch(start: start + done, count: n)
            let pred = model.predict(batch.images)
            for (i, s) in batch.samples.enumerated() {
                if pred.watermark[i] == (s.isWatermark ? 1 : 0) { correct[3] += 1 }
                if s.isWatermark {
                    watermarks += 1
                    continue
                }
                labelled += 1
                if pred.shape[i] == s.shape { correct[0] += 1 }
                if pred.colour[i] == s.colour { correct[1] += 1 }
                if pred.style[i] == s.style { correct[2] += 1 }
            }
            done += n
        }
        let l = Double(max(labelled, 1))
        return ToyClassifierAccuracy(
            shape: Double(correct[0]) / l, colour: Double(correct[1]) / l,
            style: Double(correct[2]) / l, watermark: Double(correct[3]) / Double(max(count, 1)),
            count: count, watermarkCount: watermarks)
    }
}
