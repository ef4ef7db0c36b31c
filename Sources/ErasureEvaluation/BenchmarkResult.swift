import ConceptErasure
import Foundation
import Toy

/// What `ErasureBenchmark` reports (`benchmark.json`): per target the accuracies on the training
/// and held-out templates, the specificity of the retained prompts against the original model's
/// images, and the erasure's cost; their means in `summary`.
public struct BenchmarkResult: Codable, Equatable, Sendable {
    /// One erased target.
    public struct Target: Codable, Equatable, Sendable {
        public var target: String
        public var kind: BenchmarkPromptGrid.Kind
        public var ua: Double
        public var ira: Double
        public var cra: Double
        /// nil when the held-out templates are not scored (or name none of the grid's combinations).
        @NullWhenAbsent public var uaHeldout: Double? = nil
        @NullWhenAbsent public var iraHeldout: Double? = nil
        @NullWhenAbsent public var craHeldout: Double? = nil
        /// Mean SSIM and mean absolute pixel difference (full range 1) of the retained (IRA + CRA)
        /// images of every scored template set against the original model's for the same seeds.
        public var ssimRetained: Double
        public var pixelDiffRetained: Double
        /// Fréchet distance of the classifier features of all retained images to the original's.
        public var frechetRetained: Double
        /// Wall time of the erasure (training images and unlearning), and its iterations.
        public var seconds: Double
        public var iterations: Int
        /// Size of the target's shift files (nil in rows saved before it was recorded).
        @NullWhenAbsent public var shiftBytes: Int? = nil
        /// Training templates: UA per concept of the other domain and IRA per retained concept of
        /// the target's domain (`BenchmarkScores`); nil in rows saved before they were recorded.
        @NullWhenAbsent public var uaByConcept: [String: Double]? = nil
        @NullWhenAbsent public var iraByConcept: [String: Double]? = nil

        public var harmonicMean: Double { BenchmarkScores.harmonicMean([ua, ira, cra]) }

        enum CodingKeys: String, CodingKey {
            case target, kind, ua, ira, cra, seconds, iterations
            case uaHeldout = "ua_heldout"
            case iraHeldout = "ira_heldout"
            case craHeldout = "cra_heldout"
            case ssimRetained = "ssim_retained"
            case pixelDiffRetained = "pixel_diff_retained"
            case frechetRetained = "frechet_retained"
            case shiftBytes = "shift_bytes"
            case uaByConcept = "ua_by_concept"
            case iraByConcept = "ira_by_concept"
        }

        /// The `count` lowest entries of a breakdown, lowest first (ties by name).
        static func lowest(_ table: [String: Double]?, _ count: Int) -> [(String, Double)] {
            (table ?? [:]).sorted { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(count).map { ($0.key, $0.value) }
        }
    }

    /// Means over the targets.
    public struct Summary: Codable, Equatable, Sendable {
        public var targets: Int
        public var ua: Double
        public var ira: Double
        public var cra: Double
        /// Harmonic mean of the mean UA, IRA and CRA.
        public var harmonicMean: Double
        public var ssimRetained: Double
        public var pixelDiffRetained: Double
        public var frechetRetained: Double
        public var seconds: Double
        /// Means of the held-out columns over the targets that have them (nil when none has).
        @NullWhenAbsent public var uaHeldout: Double? = nil
        @NullWhenAbsent public var iraHeldout: Double? = nil
        @NullWhenAbsent public var craHeldout: Double? = nil
        /// Mean size of a target's shift files (nil when no row records it).
        @NullWhenAbsent public var shiftBytes: Double? = nil

        enum CodingKeys: String, CodingKey {
            case targets, ua, ira, cra, seconds
            case harmonicMean = "harmonic_mean"
            case ssimRetained = "ssim_retained"
            case pixelDiffRetained = "pixel_diff_retained"
            case frechetRetained = "frechet_retained"
            case uaHeldout = "ua_heldout"
            case iraHeldout = "ira_heldout"
            case craHeldout = "cra_heldout"
            case shiftBytes = "shift_bytes"
        }

        public init(_ rows: [Target]) {
            let n = Double(max(1, rows.count))
            func mean(_ f: (Target) -> Double) -> Double { rows.reduce(0) { $0 + f($1) } / n }
            targets = rows.count
            ua = mean(\.ua)
            ira = mean(\.ira)
            cra = mean(\.cra)
            harmonicMean = BenchmarkScores.harmonicMean([ua, ira, cra])
            ssimRetained = mean(\.ssimRetained)
            pixelDiffRetained = mean(\.pixelDiffRetained)
            frechetRetained = mean(\.frechetRetained)
            seconds = rows.reduce(0) { $0 + $1.seconds }
            func optionalMean(_ f: (Target) -> Double?) -> Double? {
                let values = rows.compactMap(f)
                return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
            }
            uaHeldout = optionalMean(\.uaHeldout)
            iraHeldout = optionalMean(\.iraHeldout)
            craHeldout = optionalMean(\.craHeldout)
            shiftBytes = optionalMean { $0.shiftBytes.map(Double.init) }
        }
    }

    public var method: String
    public var settings: BenchmarkSettings
    public var targets: [Target]
    /// SepME's own columns (`BenchmarkComposition`); null when fewer than two targets of one kind
    /// are benchmarked or `compose` is 0.
    @NullWhenAbsent public var composition: BenchmarkComposition? = nil
    @NullWhenAbsent public var restoration: BenchmarkRestoration? = nil
    @NullWhenAbsent public var protection: BenchmarkProtection? = nil
    /// The original model's per-concept accuracy on the grid (nil when a resumed run had nothing
    /// left to generate and no earlier run saved it).
    @NullWhenAbsent public var original: BenchmarkOriginalAccuracy? = nil
    public var summary: Summary

    public init(
        settings: BenchmarkSettings, targets: [Target], columns: ErasureBenchmark.CompositionColumns? = nil,
        original: BenchmarkOriginalAccuracy? = nil
    ) {
        self.original = original
        method = settings.method.rawValue
        self.settings = settings
        self.targets = targets
        composition = columns?.composition
        restoration = columns?.restoration
        protection = columns?.protection
        summary = Summary(targets)
    }

    enum CodingKeys: String, CodingKey { case method, settings, targets, composition, restoration, protection, original, summary }

    public func json() throws -> Data { try Self.encoder.encode(self) + Data("\n".utf8) }

    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        // A degenerate Fréchet distance must not make the whole report unwritable.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The tables of `benchmark.md`.
    public func markdown() -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "–" }
        var out = "# sepme benchmark\n\n"
        if targets.isEmpty, composition != nil {
            out += "Method `\(method)` (variant `\(settings.variant.rawValue)`), \(settings.seedsPerPrompt) seeds per prompt, "
            out += "\(settings.steps) steps, guidance \(settings.guidance)\(settings.quick ? ", quick mode" : ""): "
            out += "the composition, restoration and protection columns only.\n"
            return out + compositionMarkdown() + (original?.markdown() ?? "")
        }
        if targets.isEmpty {
            out += "The original model only (\(settings.seedsPerPrompt) seeds per prompt, \(settings.steps) steps, guidance \(settings.guidance)).\n"
            return out + (original?.markdown() ?? "")
        }
        out += "Method `\(method)` (variant `\(settings.variant.rawValue)`), \(settings.seedsPerPrompt) seeds per prompt, "
        out += "\(settings.steps) steps, guidance \(settings.guidance)\(settings.quick ? ", quick mode" : ""). "
        out += "UA: the target is no longer read; IRA: the other concepts of its domain are; CRA: the other domain is (percent). "
        out += "SSIM, pixel difference and Fréchet distance: retained prompts against the original model's images for the same seeds.\n\n"
        out += "![UA / IRA / CRA per target](benchmark-bars.png)\n\n"
        out +=
            "| target | kind | UA | IRA | CRA | H-mean | UA held-out | IRA held-out | CRA held-out | SSIM | pixel diff | Fréchet | seconds | iterations |\n"
        out += "|" + String(repeating: "---|", count: 14) + "\n"
        for t in targets {
            out += "| [\(t.target)](grids/\(t.kind.rawValue)-\(ConceptShift.slug(t.target)).png) | \(t.kind.rawValue) | "
            out += "\(pct(t.ua)) | \(pct(t.ira)) | \(pct(t.cra)) | \(pct(t.harmonicMean)) | "
            out += "\(pct(t.uaHeldout)) | \(pct(t.iraHeldout)) | \(pct(t.craHeldout)) | "
            out += String(
                format: "%.4f | %.4f | %.3f | %.1f | %d |\n", t.ssimRetained, t.pixelDiffRetained, t.frechetRetained, t.seconds, t.iterations)
        }
        let s = summary
        out += "\nMean over \(s.targets) targets: UA \(pct(s.ua)), IRA \(pct(s.ira)), CRA \(pct(s.cra)), harmonic mean \(pct(s.harmonicMean)); "
        out += String(
            format: "SSIM %.4f, pixel diff %.4f, Fréchet %.3f; erasure time %.1f s.\n", s.ssimRetained, s.pixelDiffRetained, s.frechetRetained,
            s.seconds)
        out += whereMarkdown()
        out += compositionMarkdown()
        if let original { out += original.markdown() }
        return out
    }

    /// Where each target's UA and IRA fall short (training templates): the three concepts with the
    /// lowest UA and IRA, beside the original model's accuracy on each retained concept.
    func whereMarkdown() -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "–" }
        let rows = targets.filter { $0.uaByConcept != nil || $0.iraByConcept != nil }
        guard !rows.isEmpty else { return "" }
        let training = original?.sets.first { $0.templates == ToyTemplateSet.training.rawValue }
        var out = "\n## Where\n\nTraining templates: the lowest UA per concept of the other domain, and the lowest IRA per retained concept "
        out += "(in parentheses: the original model's accuracy on that concept).\n\n"
        out += "| target | lowest UA | lowest IRA |\n|---|---|---|\n"
        for t in rows {
            let ua = Target.lowest(t.uaByConcept, 3).map { "\($0.0) \(pct($0.1))" }.joined(separator: ", ")
            let ira = Target.lowest(t.iraByConcept, 3).map { name, v in
                let before = t.kind == .style ? training?.styles[name] : training?.shapes[name]
                return "\(name) \(pct(v)) (\(pct(before)))"
            }.joined(separator: ", ")
            out += "| \(t.target) | \(ua) | \(ira) |\n"
        }
        return out
    }

    /// The composition, restoration and protection tables of `benchmark.md`.
    func compositionMarkdown() -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 * 100) } ?? "–" }
        guard let c = composition else { return "" }
        var out = "\n## Composition\n\n"
        out += "\(c.targets.joined(separator: ", ")) erased by one plan and applied together"
        if settings.method == .sepme, settings.variant.isDecoupled {
            out +=
                (settings.decoupling ?? .wordings) == .names
                ? ", each shift decoupled from the others' names " : ", each shift decoupled from every wording of the others "
        } else {
            out += " "
        }
        out += "(training templates; IRA over the \(c.kind.rawValue)s not erased).\n\n"
        out += "| UA " + c.targets.map { "(\($0)) | " }.joined(separator: "UA ") + "IRA | CRA | SSIM | pixel diff | seconds | iterations |\n"
        out += "|" + String(repeating: "---|", count: c.targets.count + 6) + "\n"
        out += "| " + c.targets.map { pct(c.ua[$0]) + " | " }.joined() + "\(pct(c.ira)) | \(pct(c.cra)) | "
        out += String(format: "%.4f | %.4f | %.1f | %d |\n", c.ssimRetained, c.pixelDiffRetained, c.seconds, c.iterations)
        if let r = restoration {
            out += "\n## Restoration\n\n"
            out += "Shift of '\(r.restored)' removed, \(r.kept.map { "'\($0)'" }.joined(separator: ", ")) kept.\n\n"
            out += "| concept-prompt images identical (8 bit) | UA-prompt images identical | '\(r.restored)' shown (original) | "
            out += r.kept.map { "UA '\($0)' | " }.joined() + "\n"
            out += "|" + String(repeating: "---|", count: 3 + r.kept.count) + "\n"
            out += "| \(r.conceptImagesIdentical)/\(r.conceptImages) | \(r.gridImagesIdentical)/\(r.gridImages) | "
            out += "\(pct(r.restoredAccuracy)) (\(pct(r.originalAccuracy))) | " + r.kept.map { pct(r.stillErasedUA[$0]) + " | " }.joined() + "\n"
        }
        if let p = protection {
            out += "\n## Protection\n\nWith every composed shift applied, images identical to the original model's in 8 bits:\n\n"
            out += "| prompt | identical |\n|---|---|\n"
            for q in p.prompts { out += "| \(q.prompt.isEmpty ? "(blank)" : q.prompt) | \(q.identical)/\(q.images) |\n" }
        }
        return out
    }
}
