import ConceptErasure
import Foundation
import ImageIO
import Toy

/// `sepme benchmark`: erases each target of the settings in turn (one `ErasureRun` each, from the
/// base model) and scores the erased model on the target's prompt grid (`BenchmarkPromptGrid`,
/// `BenchmarkScores`) against the original model's images for the same seeds.
///
/// The original model's images of every prompt any target uses are made once. Each finished
/// target is saved to `targets/<slug>.json` in the output folder (atomically, with the settings),
/// so that a resumed run skips it; then SepME's composition, restoration and protection columns
/// (`ErasureBenchmark+Composition.swift`); `benchmark.json` and `benchmark.md` are written at the end.
public final class ErasureBenchmark {
    public let settings: BenchmarkSettings
    public let model: ShiftSet
    public let classifier: ToyClassifier
    /// Where the model was loaded from: shown in messages, recorded in plans.
    public let modelName: String
    /// The model by content (`ModelFingerprint.ofImageModel`): what saved rows and images are
    /// checked against on `resume`, so that a moved or copied model folder keeps its results.
    public let modelIdentity: String
    /// Optional progress of image generation: (what, prompts done, total).
    public var progress: ((String, Int, Int) -> Void)?
    /// Progress, messages and stop requests of the erasures (and stop requests between prompts).
    public var observer = ErasureObserver()
    /// The original model's images of the grid: made by `run` when nil (or made with other
    /// sampling settings or another grid), kept afterwards so that another benchmark of the same
    /// model and grid (another method) can reuse them.
    public var originals: BenchmarkOriginals?
    /// Further files of original images (`BenchmarkOriginalsFile`) a resumed run may read when its
    /// own output has none that match: another method's, in a comparison.
    public var sharedOriginalFiles: [URL] = []

    public init(settings: BenchmarkSettings, model: ShiftSet, classifier: ToyClassifier, modelName: String) throws {
        try settings.validate()
        self.settings = settings
        self.model = model
        self.classifier = classifier
        self.modelName = modelName
        modelIdentity = "weights " + ModelFingerprint.ofImageModel(model.pipeline)
    }

    /// The targets in run order: styles, then objects.
    public var targets: [BenchmarkPromptGrid.Target] {
        settings.styles.compactMap { s in ToyConcepts.styles.firstIndex(of: s).map { .init(kind: .style, label: $0) } }
            + settings.objects.compactMap { o in ToyConcepts.shapes.firstIndex(of: o).map { .init(kind: .object, label: $0) } }
    }

    var labels: (shapes: [Int], styles: [Int], colours: [Int]) {
        (
            settings.gridShapes.compactMap(ToyConcepts.shapes.firstIndex(of:)),
            settings.gridStyles.compactMap(ToyConcepts.styles.firstIndex(of:)),
            settings.gridColours.compactMap(ToyConcepts.colours.firstIndex(of:))
        )
    }

    /// A finished piece of the run (a target's row, the composition columns, the original model's
    /// accuracy) as saved for `resume`, with the settings and model it was made with.
    struct Record<Result: Codable>: Codable {
        var settings: BenchmarkSettings
        var model: String
        var result: Result
    }

    /// The result an earlier run saved at `url`, if there is one; an error when it was made with
    /// other settings or another model.
    func saved<Result: Codable>(_: Result.Type, at url: URL) throws -> Result? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let record = try BenchmarkResult.decoder.decode(Record<Result>.self, from: Data(contentsOf: url))
        guard record.model == modelIdentity else {
            throw EvaluationError.invalidArgument(
                "\(url.path) was made with another model (\(record.model); this one is \(modelIdentity)); remove it or benchmark into another folder"
            )
        }
        guard record.settings == settings else {
            throw EvaluationError.invalidArgument("\(url.path) was made with other settings; remove it or benchmark into another folder")
        }
        return record.result
    }

    /// Saves a finished result for `resume` (atomically).
    func save<Result: Codable>(_ result: Result, at url: URL) throws {
        let record = Record(settings: settings, model: modelIdentity, result: result)
        try AtomicFile.write(try BenchmarkResult.encoder.encode(record), to: url.path)
    }

    static func originalURL(_ output: URL) -> URL {
        output.appendingPathComponent("targets").appendingPathComponent("original.json")
    }

    static func figureURL(_ output: URL, _ target: BenchmarkPromptGrid.Target) -> URL {
        output.appendingPathComponent("grids").appendingPathComponent("\(target.kind.rawValue)-\(ConceptShift.slug(target.name)).png")
    }

    /// A target's images while its grid is being made (`BenchmarkImageCheckpoint`).
    static func imagesURL(_ output: URL, _ target: BenchmarkPromptGrid.Target) -> URL {
        output.appendingPathComponent("targets").appendingPathComponent(
            "\(target.kind.rawValue)-\(ConceptShift.slug(target.name))-images.safetensors")
    }

    static func recordURL(_ output: URL, _ target: BenchmarkPromptGrid.Target) -> URL {
        output.appendingPathComponent("targets").appendingPathComponent("\(target.kind.rawValue)-\(ConceptShift.slug(target.name)).json")
    }

    /// Runs every target (skipping those already finished with these settings when `resume`) and
    /// writes `benchmark.json` and `benchmark.md` into `output`.
    @discardableResult
    public func run(output: URL, resume: Bool) throws -> BenchmarkResult {
        try OutputFolder.prepare(output)
        try OutputFolder.prepare(output.appendingPathComponent("targets"))
        var finished: [Int: BenchmarkResult.Target] = [:]
        // The targets whose own rows are scored: none when only the composition is.
        let scored = settings.compositionOnly == true ? [] : targets
        if resume {
            for (i, t) in scored.enumerated() {
                guard let row = try saved(BenchmarkResult.Target.self, at: Self.recordURL(output, t)) else { continue }
                finished[i] = row
                observer.message("\(t.kind.rawValue) '\(t.name)': finished earlier, skipped")
            }
        }
        let evaluator = try ConceptEvaluator(model: model, classifier: classifier, settings: settings.evaluation, modelName: modelName)
        evaluator.shouldStop = observer.shouldStop
        evaluator.progress = progress
        let composed = composedTargets
        var columns = resume && !composed.isEmpty ? try saved(CompositionColumns.self, at: Self.compositionURL(output)) : nil
        if columns != nil { observer.message("composition: finished earlier, skipped") }
        var originalAccuracy = resume ? try saved(BenchmarkOriginalAccuracy.self, at: Self.originalURL(output)) : nil
        if finished.count < scored.count || (!composed.isEmpty && columns == nil) || originalAccuracy == nil {
            let key = BenchmarkOriginals.Key(settings)
            let made =
                try originals.flatMap { $0.key == key ? $0 : nil } ?? originalImages(evaluator: evaluator, key: key, output: output, resume: resume)
            originals = made
            try save(made.accuracy, at: Self.originalURL(output))
            originalAccuracy = made.accuracy
        }
        var rows: [BenchmarkResult.Target] = []
        for (i, t) in scored.enumerated() {
            if let done = finished[i] {
                rows.append(done)
                continue
            }
            guard let originals else { throw EvaluationError.invalidArgument("the original model's images were not made") }
            let row = try runTarget(t, evaluator: evaluator, originals: originals, output: output, resume: resume)
            try save(row, at: Self.recordURL(output, t))
            try? FileManager.default.removeItem(at: Self.imagesURL(output, t))
            rows.append(row)
        }
        if !composed.isEmpty, columns == nil {
            guard let originals else { throw EvaluationError.invalidArgument("the original model's images were not made") }
            columns = try runComposition(composed, evaluator: evaluator, originals: originals, output: output, resume: resume)
        }
        let result = BenchmarkResult(settings: settings, targets: rows, columns: columns, original: originalAccuracy)
        let json = try result.json()
        try AtomicFile.write(json, to: output.appendingPathComponent("benchmark.json").path)
        try AtomicFile.write(result.markdown(), to: output.appendingPathComponent("benchmark.md").path)
        if !rows.isEmpty {
            try BenchmarkFigures.write(try BenchmarkFigures.bars(result), to: output.appendingPathComponent("benchmark-bars.png"))
        }
        return result
    }

    /// The original model's images of the grid: when resuming, those an earlier run saved in
    /// `output` (`BenchmarkOriginalsFile`) if they match; else made now and saved there.
    func originalImages(evaluator: ConceptEvaluator, key: BenchmarkOriginals.Key, output: URL, resume: Bool) throws -> BenchmarkOriginals {
        let grids = BenchmarkOriginals.grids(sets: settings.parsedTemplateSets, labels: labels)
        let url = BenchmarkOriginalsFile.url(output)
        for candidate in resume ? [url] + sharedOriginalFiles : [] {
            guard
                let stored = BenchmarkOriginalsFile.read(
                    at: candidate, model: modelIdentity, key: key, prompts: grids.flatMap(\.prompts).map(\.prompt),
                    skipped: { observer.message("\($0); not used") })
            else { continue }
            observer.message("original images: read from \(candidate.path)")
            return try BenchmarkOriginals.classified(stored, evaluator: evaluator, grids: grids, key: key)
        }
        // Made a group of prompts at a time into the same file, which a resumed run continues.
        let prompts = grids.flatMap(\.prompts).map(\.prompt)
        let images = try BenchmarkImageCheckpoint(url: url, maker: modelIdentity, key: key).images(
            of: prompts, evaluator: evaluator, shifts: [], label: "original", resume: resume, observer: observer)
        let made = try BenchmarkOriginals.classified(images, evaluator: evaluator, grids: grids, key: key)
        try BenchmarkOriginalsFile.write(made, prompts: prompts, model: modelIdentity, to: url)
        return made
    }

    /// The plan that erases `targets` with the settings' method and that method's settings
    /// (`BenchmarkSettings.planSettings(for:)`), and the concept wordings, fixed as `sepme erase`
    /// fixes its plans (`ErasurePlanFile.make`): where the prompts a shift must keep (the other
    /// composed targets' wordings, the protected prompts) overfill the exact null space, the
    /// smallest working tolerance.
    func plan(erasing targets: [BenchmarkPromptGrid.Target]) throws -> ErasurePlan {
        var prompts: [String: [String]] = [:]
        for t in targets { prompts[t.name] = conceptPrompts(t) }
        let m = settings.planSettings(for: settings.method)
        let plan = try ErasurePlan(
            method: settings.method, concepts: targets.map(\.name), conceptPrompts: prompts.filter { !$0.value.isEmpty },
            protectedPrompts: m.protected, decoupling: settings.decoupling ?? .wordings,
            variant: m.variant, hyperparameters: settings.hyperparameters, uce: m.uce, esd: m.esd, ca: m.ca)
        return try ErasurePlanFile.make(plan: plan, modelPath: modelName, model: model).plan
    }

    /// A target's further wordings (`BenchmarkSettings.conceptTemplates` over the grid).
    func conceptPrompts(_ target: BenchmarkPromptGrid.Target) -> [String] {
        let l = labels
        return BenchmarkPromptGrid.conceptPrompts(
            target: target, templates: settings.conceptTemplates, shapes: l.shapes, styles: l.styles, colours: l.colours)
    }

    /// Seconds an erasure took: this process's wall time, or, where the run resumed from a training
    /// checkpoint or read its training images from the cache, what a shift records over every process
    /// that worked on it (`TrainingRecord.seconds` + `imageSeconds`), if more. (The largest shift's, not
    /// their sum: shifts trained together each record the group's time.)
    static func erasureSeconds(wall: Double, shifts: [ConceptShift]) -> Double {
        Swift.max(wall, shifts.map { $0.metadata.training.seconds + $0.metadata.training.imageSeconds }.max() ?? 0)
    }

    /// Erases one target and scores its grid on every template set.
    func runTarget(
        _ target: BenchmarkPromptGrid.Target, evaluator: ConceptEvaluator, originals: BenchmarkOriginals, output: URL, resume: Bool
    ) throws -> BenchmarkResult.Target {
        let plan = try plan(erasing: [target])
        let folder = output.appendingPathComponent("shifts").appendingPathComponent("\(target.kind.rawValue)-\(ConceptShift.slug(target.name))")
        let start = Date()
        let paths = try ErasureRun(plan: plan, output: folder, resume: resume).run(on: model, observer: observer)
        let shifts = try paths.map { try ConceptShift.read(path: $0) }
        let seconds = Self.erasureSeconds(wall: Date().timeIntervalSince(start), shifts: shifts)
        let l = labels
        var scores: [ToyTemplateSet: BenchmarkScores] = [:]
        var pairs: [(edited: RGBImage, original: RGBImage)] = []
        var editedFeatures: [[Double]] = []
        var originalFeatures: [[Double]] = []
        var figureGrids: [BenchmarkPromptGrid] = []
        var edited: [String: [RGBImage]] = [:]
        let grids = settings.parsedTemplateSets.map {
            BenchmarkPromptGrid(target: target, templateSet: $0, shapes: l.shapes, styles: l.styles, colours: l.colours)
        }.filter { !$0.ua.isEmpty && !$0.ira.isEmpty && !$0.cra.isEmpty }
        // Every set's images, saved a group of prompts at a time for a resumed run (the file names
        // the shifts that made them) and removed once the target's row is saved.
        let checkpoint = BenchmarkImageCheckpoint(
            url: Self.imagesURL(output, target), maker: "\(modelIdentity) + \(try BenchmarkImageCheckpoint.shiftFingerprint(shifts))",
            key: BenchmarkOriginals.Key(settings))
        let made = try checkpoint.images(
            of: grids.flatMap(\.all).map(\.prompt), evaluator: evaluator, shifts: shifts, label: target.name, resume: resume, observer: observer)
        for grid in grids {
            let set = grid.templateSet
            let prompts = grid.all
            let images = try prompts.map { p in
                guard let im = made[p.prompt] else { throw EvaluationError.invalidPrompts("no images were made for '\(p.prompt)'") }
                return im
            }
            var readings: [String: ToyClassifier.Predictions] = [:]
            let retained = Set(grid.retained.map(\.prompt))
            figureGrids.append(grid)
            for (p, im) in zip(prompts, images) {
                edited[p.prompt] = im
                let (pred, features) = evaluator.classify(im)
                readings[p.prompt] = pred
                guard retained.contains(p.prompt) else { continue }
                let before = try originals.images(of: p.prompt, count: im.count)
                pairs += zip(im, before).map { (edited: $0, original: $1) }
                editedFeatures += features
                originalFeatures += (originals.readings[p.prompt] ?? evaluator.classify(before)).1
            }
            scores[set] = try BenchmarkScores(grid: grid, readings: readings)
        }
        guard let training = scores[.training] else {
            throw EvaluationError.invalidPrompts("the training templates give '\(target.name)' an empty UA, IRA or CRA group")
        }
        let heldOut = scores[.heldOut]
        try BenchmarkFigures.write(
            try BenchmarkFigures.targetGrid(
                target: target, grids: figureGrids, edited: edited, original: originals.images,
                title: "Erasing \(target.kind.rawValue) '\(target.name)' (\(settings.method.rawValue), \(settings.variant.rawValue))"),
            to: Self.figureURL(output, target))
        let specificity = BenchmarkScores.specificity(pairs)
        return BenchmarkResult.Target(
            target: target.name, kind: target.kind, ua: training.ua, ira: training.ira, cra: training.cra,
            uaHeldout: heldOut?.ua, iraHeldout: heldOut?.ira, craHeldout: heldOut?.cra,
            ssimRetained: specificity.ssim, pixelDiffRetained: specificity.pixelDiff,
            frechetRetained: try FrechetDistance.distance(editedFeatures, originalFeatures),
            seconds: seconds, iterations: shifts.reduce(0) { $0 + $1.metadata.training.iterations },
            shiftBytes: try paths.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int ?? 0) },
            uaByConcept: training.uaByConcept, iraByConcept: training.iraByConcept)
    }
}
