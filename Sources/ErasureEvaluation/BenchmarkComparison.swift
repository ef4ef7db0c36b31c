import ConceptErasure
import Foundation
import ImageIO
import Toy

/// `sepme benchmark --method all` (or several `--method`s): the same benchmark, targets, seeds,
/// prompt grid and classifier for each erasure method, one `ErasureBenchmark` per method in
/// `<output>/<method>/` (each resumable on its own), the original model's images made once for
/// all of them; then one row per method (`comparison.json`, `comparison.md`, `comparison.png`).
///
/// The composition columns are measured the same way for every method: the first k targets of
/// one kind erased by one plan (SepME decouples their shifts from each other; the baselines erase
/// each on its own from the base model), applied together, then the first one's shift removed.
public struct BenchmarkComparison: Codable, Equatable, Sendable {
    /// One method's means over the targets and its composition, restoration and protection
    /// columns (null when the benchmark had none).
    public struct Row: Codable, Equatable, Sendable {
        public var method: String
        public var summary: BenchmarkResult.Summary
        /// The wordings each target was erased on besides its name (`BenchmarkSettings.conceptTemplates`).
        @NullWhenAbsent public var conceptTemplates: [String]? = nil
        /// Mean UA of the composed targets, and the IRA / CRA with all of them applied.
        @NullWhenAbsent public var composedUA: Double? = nil
        @NullWhenAbsent public var composedIRA: Double? = nil
        @NullWhenAbsent public var composedCRA: Double? = nil
        /// After removing the first composed shift: whether its concept prompts' images are all
        /// back to the original model's in 8 bits, how many are, and the mean UA of the kept ones.
        @NullWhenAbsent public var restoredIdentical: Bool? = nil
        @NullWhenAbsent public var restoredImagesIdentical: Int? = nil
        @NullWhenAbsent public var restoredImages: Int? = nil
        @NullWhenAbsent public var stillErasedUA: Double? = nil
        /// With every composed shift applied: the blank and protected prompts' images identical.
        @NullWhenAbsent public var protectedIdentical: Bool? = nil

        enum CodingKeys: String, CodingKey {
            case method, summary
            case conceptTemplates = "concept_templates"
            case composedUA = "composed_ua"
            case composedIRA = "composed_ira"
            case composedCRA = "composed_cra"
            case restoredIdentical = "restored_identical"
            case restoredImagesIdentical = "restored_images_identical"
            case restoredImages = "restored_images"
            case stillErasedUA = "still_erased_ua"
            case protectedIdentical = "protected_identical"
        }

        public init(_ r: BenchmarkResult) {
            method = r.method
            summary = r.summary
            conceptTemplates = r.settings.conceptTemplates
            composedUA = r.composition?.uaMean
            composedIRA = r.composition?.ira
            composedCRA = r.composition?.cra
            restoredIdentical = r.restoration?.identical
            restoredImagesIdentical = r.restoration?.conceptImagesIdentical
            restoredImages = r.restoration?.conceptImages
            stillErasedUA = r.restoration.map { $0.stillErasedUA.isEmpty ? 0 : $0.stillErasedUA.values.reduce(0, +) / Double($0.stillErasedUA.count) }
            protectedIdentical = r.protection?.identical
        }
    }

    /// The settings every method ran with (`method` is the first method's; each row names its own).
    public var settings: BenchmarkSettings
    public var methods: [Row]

    public init(results: [BenchmarkResult]) throws {
        guard let first = results.first else { throw EvaluationError.invalidArgument("no method to compare") }
        settings = first.settings
        methods = results.map(Row.init)
    }

    /// Runs the benchmark of `settings` once per method into `output/<method>/` and writes the
    /// comparison into `output`. `configure` sets up each method's benchmark (progress, observer)
    /// before it runs.
    public static func run(
        settings: BenchmarkSettings, methods: [ErasureMethodKind], model: ShiftSet, classifier: ToyClassifier, modelName: String,
        output: URL, resume: Bool, methodDefaults: Bool = false, configure: (ErasureBenchmark) -> Void = { _ in }
    ) throws -> (comparison: BenchmarkComparison, results: [BenchmarkResult]) {
        guard !methods.isEmpty, Set(methods).count == methods.count else {
            throw EvaluationError.outOfRange(key: "method", value: "\(methods.map(\.rawValue))", allowed: "at least one method, each once")
        }
        try OutputFolder.prepare(output)
        var originals: BenchmarkOriginals?
        var results: [BenchmarkResult] = []
        for method in methods {
            var s = settings.forMethod(method)
            if methodDefaults { s.conceptTemplates = BenchmarkSettings.defaultConceptTemplates(for: method) }
            let benchmark = try ErasureBenchmark(settings: s, model: model, classifier: classifier, modelName: modelName)
            benchmark.originals = originals
            // A resumed comparison whose earlier methods were all finished has made no images in
            // this process: the first method's saved ones serve every later method.
            benchmark.sharedOriginalFiles = methods.filter { $0 != method }.map {
                BenchmarkOriginalsFile.url(output.appendingPathComponent($0.rawValue))
            }
            configure(benchmark)
            benchmark.observer.message("method \(method.rawValue)")
            results.append(try benchmark.run(output: output.appendingPathComponent(method.rawValue), resume: resume))
            originals = benchmark.originals ?? originals
        }
        let comparison = try BenchmarkComparison(results: results)
        try AtomicFile.write(
            try BenchmarkResult.encoder.encode(comparison) + Data("\n".utf8), to: output.appendingPathComponent("comparison.json").path)
        try AtomicFile.write(comparison.markdown(), to: output.appendingPathComponent("comparison.md").path)
        try BenchmarkFigures.write(try comparison.figure(), to: output.appendingPathComponent("comparison.png"))
        return (comparison, results)
    }

    /// The metrics of the figure, each a share in [0, 1], and how to read each from a row.
    static let figureMetrics: [(label: String, value: @Sendable (Row) -> Double?)] = [
        ("UA", { $0.summary.ua }), ("IRA", { $0.summary.ira }), ("CRA", { $0.summary.cra }), ("H-mean", { $0.summary.harmonicMean }),
        ("UA held-out", { $0.summary.uaHeldout }), ("SSIM retained", { $0.summary.ssimRetained }),
        ("UA composed", { $0.composedUA }), ("IRA composed", { $0.composedIRA }),
        ("restored 8-bit", { r in r.restoredImagesIdentical.flatMap { n in r.restoredImages.map { Double(n) / Double(max(1, $0)) } } })
    ]

    /// Grouped bars: one group per metric, one bar per method (a missing column draws as 0).
    public func figure() throws -> RGBImage {
        let chart = BarChart(
            title: "Methods compared (\(settings.seedsPerPrompt) seeds, \(methods.first?.summary.targets ?? 0) targets)",
            series: methods.enumerated().map { .init(name: $1.method, colour: RGBColour.palette[$0 % RGBColour.palette.count]) },
            groups: Self.figureMetrics.map { m in .init(label: m.label, values: methods.map { m.value($0) ?? 0 }) },
            referenceLines: [.init(value: 0.95, label: "95 %")])
        return try chart.render()
    }

    /// The table of `comparison.md`.
    public func markdown() -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "–" }
        func yes(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "–" }
        // Seconds to a precision that keeps a closed form's sub-second times visible.
        func seconds(_ v: Double) -> String { String(format: v >= 10 ? "%.0f" : (v >= 1 ? "%.1f" : "%.2g"), v) }
        var out = "# sepme benchmark: methods compared\n\n"
        out += "Same targets, seeds (\(settings.seedsPerPrompt) per prompt), prompt grid and classifier for every method; "
        out += "\(settings.steps) steps, guidance \(settings.guidance)\(settings.quick ? ", quick mode" : ""). "
        out += "Means over the targets (percent); SSIM of the retained prompts against the original model's images; "
        out += "composition: the first \(settings.compose) targets of one kind erased separately and applied together; "
        out += "restored: the first composed shift removed, its concept prompts' images against the original model's in 8 bits. "
        out += "Each method's own report is in `<method>/benchmark.md`.\n\n"
        out += "![methods compared](comparison.png)\n\n"
        out += "| method | erased on | UA | IRA | CRA | H-mean | UA held-out | IRA held-out | CRA held-out | SSIM | Fréchet | s / target | shift KiB "
        out += "| UA composed | IRA composed | CRA composed | restored identical | still erased UA | protected identical |\n"
        out += "|" + String(repeating: "---|", count: 19) + "\n"
        for r in methods {
            let s = r.summary
            let wordings = ["the name"] + (r.conceptTemplates ?? []).map { "\"\($0)\"" }
            out += "| \(r.method) | \(wordings.joined(separator: ", ")) | \(pct(s.ua)) | \(pct(s.ira)) | \(pct(s.cra)) | \(pct(s.harmonicMean)) | "
            out += "\(pct(s.uaHeldout)) | \(pct(s.iraHeldout)) | \(pct(s.craHeldout)) | "
            out += String(format: "%.4f | %.3f | ", s.ssimRetained, s.frechetRetained) + seconds(s.seconds / Double(max(1, s.targets))) + " | "
            out += (s.shiftBytes.map { String(format: "%.0f", $0 / 1024) } ?? "–") + " | "
            out += "\(pct(r.composedUA)) | \(pct(r.composedIRA)) | \(pct(r.composedCRA)) | "
            let restored = r.restoredImagesIdentical.flatMap { n in r.restoredImages.map { " (\(n)/\($0))" } } ?? ""
            out += "\(yes(r.restoredIdentical))\(restored) | \(pct(r.stillErasedUA)) | \(yes(r.protectedIdentical)) |\n"
        }
        return out
    }
}
