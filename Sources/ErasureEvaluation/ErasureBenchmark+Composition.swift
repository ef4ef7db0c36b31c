import ConceptErasure
import Foundation
import ImageIO
import Toy

/// The composition, restoration and protection columns of `ErasureBenchmark` (see
/// `BenchmarkComposition`), scored on the training templates.
extension ErasureBenchmark {
    /// SepME's own columns together, as saved for `resume` and written into `benchmark.json`.
    public struct CompositionColumns: Codable, Equatable, Sendable {
        public var composition: BenchmarkComposition
        public var restoration: BenchmarkRestoration
        public var protection: BenchmarkProtection
    }

    /// The composed targets: the first `settings.compose` targets of the first kind that has at
    /// least two (styles before objects); empty when none has or `compose` is 0.
    public var composedTargets: [BenchmarkPromptGrid.Target] {
        guard settings.compose >= 2 else { return [] }
        for kind in [BenchmarkPromptGrid.Kind.style, .object] {
            let same = targets.filter { $0.kind == kind }
            if same.count >= 2 { return Array(same.prefix(settings.compose)) }
        }
        return []
    }

    static func compositionURL(_ output: URL) -> URL {
        output.appendingPathComponent("targets").appendingPathComponent("composition.json")
    }

    /// Erases the composed targets with one plan, scores them together, then removes the first
    /// one's shift; saves the columns for `resume`.
    func runComposition(
        _ composed: [BenchmarkPromptGrid.Target], evaluator: ConceptEvaluator, originals: BenchmarkOriginals, output: URL, resume: Bool
    ) throws -> CompositionColumns {
        guard let first = composed.first, composed.count >= 2 else {
            throw EvaluationError.invalidArgument("composition needs at least two targets of one kind")
        }
        let names = composed.map(\.name)
        observer.message("composition: \(names.joined(separator: ", ")) erased by one plan")
        let plan = try plan(erasing: composed)
        let folder = output.appendingPathComponent("shifts").appendingPathComponent("composition")
        let start = Date()
        let paths = try ErasureRun(plan: plan, output: folder, resume: resume).run(on: model, observer: observer)
        let shifts = try paths.map { try ConceptShift.read(path: $0) }
        let seconds = Self.erasureSeconds(wall: Date().timeIntervalSince(start), shifts: shifts)

        let l = labels
        let grids = composed.map {
            BenchmarkPromptGrid(target: $0, templateSet: .training, shapes: l.shapes, styles: l.styles, colours: l.colours)
        }
        let erasedStyles = Set(composed.filter { $0.kind == .style }.map(\.label))
        let erasedShapes = Set(composed.filter { $0.kind == .object }.map(\.label))
        func retained(_ p: BenchmarkPromptGrid.Prompt) -> Bool {
            !(p.style.map(erasedStyles.contains) ?? false) && !erasedShapes.contains(p.shape)
        }
        let ira = grids[0].ira.filter(retained)
        let cra = grids[0].cra.filter(retained)
        let prompts = grids.flatMap(\.ua) + ira + cra
        // Saved a group of prompts at a time for a resumed run, removed once the columns are saved.
        let checkpoint = BenchmarkImageCheckpoint(
            url: output.appendingPathComponent("targets").appendingPathComponent("composition-images.safetensors"),
            maker: "\(modelIdentity) + \(try BenchmarkImageCheckpoint.shiftFingerprint(shifts))", key: BenchmarkOriginals.Key(settings))
        let made = try checkpoint.images(
            of: prompts.map(\.prompt), evaluator: evaluator, shifts: shifts, label: "composition", resume: resume, observer: observer)
        let images = try prompts.map { p in
            guard let im = made[p.prompt] else { throw EvaluationError.invalidPrompts("no images were made for '\(p.prompt)'") }
            return im
        }
        var readings: [String: ToyClassifier.Predictions] = [:]
        var pairs: [(edited: RGBImage, original: RGBImage)] = []
        let retainedPrompts = Set((ira + cra).map(\.prompt))
        for (p, im) in zip(prompts, images) {
            readings[p.prompt] = evaluator.classify(im).0
            if retainedPrompts.contains(p.prompt) { pairs += zip(im, try originals.images(of: p.prompt, count: im.count)).map { ($0, $1) } }
        }
        var ua: [String: Double] = [:]
        for (t, g) in zip(composed, grids) { ua[t.name] = try BenchmarkScores.share(.ua, g.ua, target: t, readings: readings, grid: .training) }
        let specificity = BenchmarkScores.specificity(pairs)
        let composition = BenchmarkComposition(
            kind: first.kind, targets: names, ua: ua, uaMean: ua.values.reduce(0, +) / Double(ua.count),
            ira: ira.isEmpty ? nil : try BenchmarkScores.share(.ira, ira, target: first, readings: readings, grid: .training),
            cra: try BenchmarkScores.share(.cra, cra, target: first, readings: readings, grid: .training),
            ssimRetained: specificity.ssim, pixelDiffRetained: specificity.pixelDiff,
            seconds: seconds, iterations: shifts.reduce(0) { $0 + $1.metadata.training.iterations })

        let restoration = try restore(
            composed, shifts: shifts, grids: grids, evaluator: evaluator, originals: originals)
        let protection = try protect(shifts: shifts, evaluator: evaluator)
        let columns = CompositionColumns(composition: composition, restoration: restoration, protection: protection)
        try save(columns, at: Self.compositionURL(output))
        try? FileManager.default.removeItem(at: checkpoint.url)
        return columns
    }

    /// Removes the first composed target's shift and compares its images with the original's.
    private func restore(
        _ composed: [BenchmarkPromptGrid.Target], shifts: [ConceptShift], grids: [BenchmarkPromptGrid], evaluator: ConceptEvaluator,
        originals: BenchmarkOriginals
    ) throws -> BenchmarkRestoration {
        let restored = composed[0]
        let kept = Array(shifts.dropFirst())
        // The restored concept's own prompts: its name and its further wordings.
        let concept = try ([restored.name] + conceptPrompts(restored)).map { try EvaluationPrompt($0) }
        let conceptOriginal = try evaluator.generate(concept, shifts: [], label: "restoration (original)")
        let prompts = grids.flatMap(\.ua)
        let images = try evaluator.generate(
            concept + (try prompts.map { try EvaluationPrompt($0.prompt) }), shifts: kept, label: "restoration")
        let conceptImages = Array(images.prefix(concept.count))
        var readings: [String: ToyClassifier.Predictions] = [:]
        var originalReadings: [String: ToyClassifier.Predictions] = [:]
        var gridIdentical = 0
        var gridImages = 0
        for (p, im) in zip(prompts, images.dropFirst(concept.count)) {
            readings[p.prompt] = evaluator.classify(im).0
            guard grids[0].ua.contains(p) else { continue }
            let before = try originals.images(of: p.prompt, count: im.count)
            originalReadings[p.prompt] = (originals.readings[p.prompt] ?? evaluator.classify(before)).0
            gridIdentical += BenchmarkProtection.identicalCount(im, before)
            gridImages += im.count
        }
        var stillErased: [String: Double] = [:]
        for (t, g) in zip(composed, grids).dropFirst() {
            stillErased[t.name] = try BenchmarkScores.share(.ua, g.ua, target: t, readings: readings, grid: .training)
        }
        // The restored target shows again where the UA test fails.
        let back = try BenchmarkScores.share(.ua, grids[0].ua, target: restored, readings: readings, grid: .training)
        let before = try BenchmarkScores.share(.ua, grids[0].ua, target: restored, readings: originalReadings, grid: .training)
        return BenchmarkRestoration(
            restored: restored.name, kept: kept.map(\.name),
            conceptImagesIdentical: zip(conceptImages, conceptOriginal).reduce(0) { $0 + BenchmarkProtection.identicalCount($1.0, $1.1) },
            conceptImages: conceptImages.reduce(0) { $0 + $1.count },
            gridImagesIdentical: gridIdentical, gridImages: gridImages, restoredAccuracy: 1 - back, originalAccuracy: 1 - before,
            stillErasedUA: stillErased)
    }

    /// The blank prompt and the protected prompts with every composed shift applied, against the
    /// original model.
    private func protect(shifts: [ConceptShift], evaluator: ConceptEvaluator) throws -> BenchmarkProtection {
        let prompts = try ([""] + settings.protectedPrompts).map { try EvaluationPrompt($0) }
        let before = try evaluator.generate(prompts, shifts: [], label: "protection (original)")
        let after = try evaluator.generate(prompts, shifts: shifts, label: "protection")
        return BenchmarkProtection(
            prompts: zip(prompts, zip(after, before)).map { p, pair in
                .init(prompt: p.prompt, identical: BenchmarkProtection.identicalCount(pair.0, pair.1), images: pair.0.count)
            })
    }
}
