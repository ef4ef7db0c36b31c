import ConceptErasure
import Diffusion
import Foundation
import ImageIO
import TensorEngine
import Toy

/// The paper's evaluation protocol (method.md §5) on the toy testbed: for each prompt, images from
/// the same seeds under the original model and under each state (a set of shifts); per prompt the
/// classifier's accuracy, and against the original images the mean absolute pixel difference, SSIM,
/// a Fréchet distance on classifier features and 8-bit identity.
///
/// States for `--shift S... --restore R...`: "original" (no shifts), "erased" (S and R applied:
/// every concept erased) and, when R is not empty, "restored" (R removed again). With
/// `Settings.compareBaked`, the prompts S should leave alone are also generated with S baked into
/// the weights (`ShiftSet.withShiftsFused`, as `sepme apply` writes them) and compared in 8 bits with the
/// original and the adapter path (`EvaluationReport.baked`).
public final class ConceptEvaluator {
    public struct Settings: Sendable {
        public var imagesPerPrompt = 32
        public var seed: UInt64 = 0
        public var steps = 20
        public var guidance: Float = 4
        public var scheduler: SamplerKind?
        /// Apply shifts made for another base model (fingerprint mismatch).
        public var force = false
        /// Also generate the prompts the kept shifts should leave alone with those shifts baked
        /// into the weights, and compare them in 8 bits (the report's `baked` section).
        public var compareBaked = false
        public init() {}

        /// Checks every value; the error names it by its report key.
        public func validate() throws {
            func check(_ ok: Bool, _ key: String, _ value: Any, _ allowed: String) throws {
                guard ok else { throw EvaluationError.outOfRange(key: key, value: "\(value)", allowed: allowed) }
            }
            try check(
                (2...Self.imageLimit).contains(imagesPerPrompt), "images_per_prompt", imagesPerPrompt,
                "2...\(Self.imageLimit) (the Fréchet distance needs two images per prompt)")
            try check((1...10_000).contains(steps), "steps", steps, "1...10000")
            try check(guidance.isFinite && guidance >= 0 && guidance <= 1000, "guidance", guidance, "[0, 1000]")
        }

        /// Images per prompt at most (each state holds every prompt's images in memory).
        public static let imageLimit = 4096
    }

    public let model: ShiftSet
    public var pipeline: any PromptConditionedPipeline { model.pipeline }
    public let classifier: ToyClassifier
    public let settings: Settings
    public let modelName: String
    /// Optional progress: (what, done, total).
    public var progress: ((String, Int, Int) -> Void)?
    /// Polled between prompts; true stops with `CancellationError`.
    public var shouldStop: () -> Bool = { false }

    public init(model: ShiftSet, classifier: ToyClassifier, settings: Settings, modelName: String) throws {
        try settings.validate()
        let pipeline = model.pipeline
        let size = pipeline.defaultImageSize
        guard size.height == ToyConcepts.imageSize, size.width == ToyConcepts.imageSize, pipeline.unet.configuration.outChannels == 3 else {
            throw EvaluationError.invalidArgument(
                "\(modelName): the toy classifier scores \(ToyConcepts.imageSize)x\(ToyConcepts.imageSize) RGB images; this model makes \(size.width)x\(size.height)"
            )
        }
        self.model = model
        self.classifier = classifier
        self.settings = settings
        self.modelName = modelName
    }

    /// One set of images for every prompt (seed `settings.seed`, `imagesPerPrompt` images each, as
    /// `sepme generate --seed S --batch-size N` makes them).
    public func generate(_ prompts: [EvaluationPrompt], shifts: [ConceptShift], label: String) throws -> [[RGBImage]] {
        try model.withShifts(shifts, force: settings.force) { try images(prompts, label: label) }
    }

    /// The same with `shifts` baked into the weights instead of applied as adapters (`ShiftSet.withShiftsFused`);
    /// the model's weights are bit-identical afterwards.
    public func generateBaked(_ prompts: [EvaluationPrompt], shifts: [ConceptShift], label: String) throws -> [[RGBImage]] {
        try model.withShiftsFused(shifts, force: settings.force) { try images(prompts, label: label) }
    }

    /// Every prompt's images on the model as it is now.
    private func images(_ prompts: [EvaluationPrompt], label: String) throws -> [[RGBImage]] {
        var out: [[RGBImage]] = []
        for (i, p) in prompts.enumerated() {
            if shouldStop() { throw CancellationError() }
            progress?(label, i, prompts.count)
            let options = GenerationOptions(
                prompts: [p.prompt], seed: settings.seed, steps: settings.steps,
                guidance: settings.guidance, scheduler: settings.scheduler,
                imagesPerPrompt: settings.imagesPerPrompt)
            out.append(try pipeline.generate(options).images)
        }
        progress?(label, prompts.count, prompts.count)
        return out
    }

    /// Classifier predictions and pooled features of a set of images.
    func classify(_ images: [RGBImage]) -> (ToyClassifier.Predictions, [[Double]]) {
        let x = ToyDataset.tensor(images)
        return GradMode.withNoGrad {
            let f = classifier.features(x)
            let n = f.shape[0]
            let k = f.shape[1]
            let rows = (0..<n).map { r in (0..<k).map { Double(f.pointer[r * k + $0]) } }
            return (classifier.predict(x), rows)
        }
    }

    func accuracy(_ p: EvaluationPrompt, _ pred: ToyClassifier.Predictions, original: ToyClassifier.Predictions?) -> Double {
        let n = pred.shape.count
        return Double((0..<n).filter { p.correct(pred, index: $0, original: original) }.count) / Double(max(1, n))
    }

    /// The group of a prompt in a state: erased (a shift of this state is its concept), restored
    /// (a removed shift's concept), protected (blank, watermark, or protected by a shift), regular.
    static func group(of p: EvaluationPrompt, applied: [ConceptShift], restored: [ConceptShift]) -> String {
        let key = p.prompt.lowercased()
        if applied.contains(where: { $0.metadata.concepts.map { $0.lowercased() }.contains(key) }) { return "erased" }
        if restored.contains(where: { $0.metadata.concepts.map { $0.lowercased() }.contains(key) }) { return "restored" }
        if p.kind != .attributes { return "protected" }
        if (applied + restored).contains(where: { $0.metadata.protectedPrompts.map { $0.lowercased() }.contains(key) }) { return "protected" }
        return "regular"
    }

    /// Scores one state against the original images.
    func score(
        state name: String, prompts: [EvaluationPrompt], images: [[RGBImage]], original: [[RGBImage]],
        applied: [ConceptShift], restored: [ConceptShift]
    ) throws -> EvaluationReport.State {
        var results: [EvaluationReport.ConceptResult] = []
        for (i, p) in prompts.enumerated() {
            let (predO, featO) = classify(original[i])
            let (pred, feat) = classify(images[i])
            let pairs = zip(images[i], original[i])
            let n = Double(images[i].count)
            let identical = pairs.filter { ImageMetrics.identical($0, $1) }.count
            results.append(
                .init(
                    prompt: p.prompt, concept: p.concept, group: Self.group(of: p, applied: applied, restored: restored),
                    accuracy: accuracy(p, pred, original: predO), accuracyOriginal: accuracy(p, predO, original: predO),
                    attributeAccuracy: p.attributeAccuracy(pred),
                    meanAbsPixelDiff: pairs.reduce(0) { $0 + ImageMetrics.meanAbsoluteDifference($1.0, $1.1) } / n,
                    ssim: pairs.reduce(0) { $0 + ImageMetrics.ssim($1.0, $1.1) } / n,
                    frechetDistance: try FrechetDistance.distance(feat, featO),
                    identical8bit: identical == images[i].count, identicalImages: identical))
        }
        return .init(name: name, shifts: applied.map(\.name), shiftFiles: applied.compactMap(\.sourcePath), concepts: results)
    }

    /// The whole evaluation: states original, erased (shifts + restore), restored (shifts only, when
    /// restore is not empty). Returns the report and every state's images (original first).
    public func evaluate(prompts texts: [String], shifts: [ConceptShift], restore: [ConceptShift]) throws
        -> (report: EvaluationReport, images: [[[RGBImage]]])
    {
        guard !texts.isEmpty else { throw EvaluationError.invalidPrompts("no prompt to evaluate") }
        let prompts = try texts.map(EvaluationPrompt.init)
        guard Set(prompts.map { $0.prompt.lowercased() }).count == prompts.count else {
            throw EvaluationError.invalidPrompts("a prompt is listed twice: \(texts)")
        }
        // Every shift must fit before any image is made.
        try model.check(shifts + restore, force: settings.force)
        let start = Date()
        let original = try generate(prompts, shifts: [], label: "original")
        var states = [try score(state: "original", prompts: prompts, images: original, original: original, applied: [], restored: [])]
        var all = [original]
        if !shifts.isEmpty || !restore.isEmpty {
            let erased = try generate(prompts, shifts: shifts + restore, label: "erased")
            states.append(try score(state: "erased", prompts: prompts, images: erased, original: original, applied: shifts + restore, restored: []))
            all.append(erased)
        }
        if !restore.isEmpty {
            let restored = try generate(prompts, shifts: shifts, label: "restored")
            states.append(try score(state: "restored", prompts: prompts, images: restored, original: original, applied: shifts, restored: restore))
            all.append(restored)
        }
        var baked: BakedComparison?
        if settings.compareBaked, !shifts.isEmpty, let adapterState = states.last, let adapterImages = all.last {
            baked = try compareBaked(
                prompts: prompts, shifts: shifts, adapterState: adapterState, adapterImages: adapterImages, original: original)
        }
        var retention: [String: Double] = [:]
        for s in states { if let w = s.concepts.first(where: { $0.concept == "watermark" }) { retention[s.name] = w.accuracy } }
        let report = EvaluationReport(
            tool: "sepme \(SepMEInfo.version)",
            settings: .init(
                model: modelName, seed: settings.seed, imagesPerPrompt: settings.imagesPerPrompt,
                steps: settings.steps, guidance: settings.guidance, scheduler: settings.scheduler),
            states: states, watermarkRetention: retention, baked: baked, seconds: Date().timeIntervalSince(start))
        return (report, all)
    }

    /// The prompts `shifts` should leave alone, in `state` (where exactly `shifts` act): the
    /// protected ones, the restored concepts, and concepts every shift is decoupled from.
    static func leftAlone(_ prompts: [EvaluationPrompt], by shifts: [ConceptShift], in state: EvaluationReport.State) -> [Int] {
        prompts.indices.filter { i in
            let key = prompts[i].prompt.lowercased()
            switch state.concepts[i].group {
            case "protected", "restored": return true
            case "regular": return shifts.allSatisfy { $0.metadata.decoupledFrom.map { $0.lowercased() }.contains(key) }
            default: return false
            }
        }
    }

    /// Generates the prompts `shifts` should leave alone with `shifts` baked in and compares them
    /// with the original and the adapter state's images.
    func compareBaked(
        prompts: [EvaluationPrompt], shifts: [ConceptShift], adapterState: EvaluationReport.State,
        adapterImages: [[RGBImage]], original: [[RGBImage]]
    ) throws -> BakedComparison {
        let picked = Self.leftAlone(prompts, by: shifts, in: adapterState)
        let baked = try generateBaked(picked.map { prompts[$0] }, shifts: shifts, label: "baked")
        let rows = zip(picked, baked).map { i, images in
            BakedComparison.PromptResult(
                prompt: prompts[i].prompt, group: adapterState.concepts[i].group, baked: images,
                adapter: adapterImages[i], original: original[i])
        }
        return BakedComparison(shifts: shifts.map(\.name), adapterState: adapterState.name, prompts: rows)
    }

    /// Creates the report folder if needed and fails with a named error when it cannot be written
    /// (call it before long work, so a bad --output fails at once).
    public static func prepareOutput(_ folder: URL) throws {
        try OutputFolder.prepare(folder)
    }

    /// Writes report.json, report.md and grid.png into `folder` (each file atomically).
    public static func write(_ report: EvaluationReport, images: [[[RGBImage]]], to folder: URL) throws {
        try prepareOutput(folder)
        // Everything is encoded before the first file is written, so a report is never left without report.json.
        let json = String(decoding: try report.json(), as: UTF8.self)
        let grid = ReportGrid.make(states: images, seedsPerCell: min(4, report.settings.imagesPerPrompt))
        try AtomicFile.write(json, to: folder.appendingPathComponent("report.json").path)
        try AtomicFile.write(report.markdown(grid: "grid.png"), to: folder.appendingPathComponent("report.md").path)
        try PNG.write(grid, to: folder.appendingPathComponent("grid.png").path)
    }
}
