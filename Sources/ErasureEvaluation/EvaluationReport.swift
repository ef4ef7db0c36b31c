import Diffusion
import Foundation

/// `report.json` of `sepme eval` / `sepme demo`.
public struct EvaluationReport: Codable, Equatable, Sendable {
    public struct Settings: Codable, Equatable, Sendable {
        public var model: String
        public var seed: UInt64
        public var imagesPerPrompt: Int
        public var steps: Int
        public var guidance: Float
        public var scheduler: SamplerKind?

        enum CodingKeys: String, CodingKey {
            case model, seed, steps, guidance, scheduler
            case imagesPerPrompt = "images_per_prompt"
        }
    }

    public struct ConceptResult: Codable, Equatable, Sendable {
        public var prompt: String
        public var concept: String
        public var group: String
        /// Classifier accuracy on this state's images (all named attributes right).
        public var accuracy: Double
        /// The same on the original model's images.
        public var accuracyOriginal: Double
        public var attributeAccuracy: [String: Double]
        public var meanAbsPixelDiff: Double
        public var ssim: Double
        public var frechetDistance: Double
        /// Every image of every seed equal to the original's in 8 bits.
        public var identical8bit: Bool
        /// How many of the seeds' images are identical in 8 bits.
        public var identicalImages: Int

        enum CodingKeys: String, CodingKey {
            case prompt, concept, group, accuracy, ssim
            case accuracyOriginal = "accuracy_original"
            case attributeAccuracy = "attribute_accuracy"
            case meanAbsPixelDiff = "mean_abs_pixel_diff"
            case frechetDistance = "frechet_distance"
            case identical8bit = "identical_8bit"
            case identicalImages = "identical_images"
        }
    }

    /// Means over the prompts of one group (every prompt has the same number of images, so these
    /// are also the accuracies over all of the group's images).
    public struct GroupSummary: Codable, Equatable, Sendable {
        public var prompts: Int
        public var accuracy: Double
        public var accuracyOriginal: Double
        public var meanAbsPixelDiff: Double
        public var identical8bit: Bool

        enum CodingKeys: String, CodingKey {
            case prompts, accuracy
            case accuracyOriginal = "accuracy_original"
            case meanAbsPixelDiff = "mean_abs_pixel_diff"
            case identical8bit = "identical_8bit"
        }
    }

    public struct State: Codable, Equatable, Sendable {
        public var name: String
        /// Concepts of the shifts applied in this state.
        public var shifts: [String]
        public var shiftFiles: [String]
        public var concepts: [ConceptResult]
        public var groups: [String: GroupSummary]

        enum CodingKeys: String, CodingKey {
            case name, shifts, concepts, groups
            case shiftFiles = "shift_files"
        }

        public init(name: String, shifts: [String], shiftFiles: [String], concepts: [ConceptResult]) {
            self.name = name
            self.shifts = shifts
            self.shiftFiles = shiftFiles
            self.concepts = concepts
            var groups: [String: GroupSummary] = [:]
            for g in Set(concepts.map(\.group)) {
                let rows = concepts.filter { $0.group == g }
                let n = Double(rows.count)
                groups[g] = GroupSummary(
                    prompts: rows.count, accuracy: rows.reduce(0) { $0 + $1.accuracy } / n,
                    accuracyOriginal: rows.reduce(0) { $0 + $1.accuracyOriginal } / n,
                    meanAbsPixelDiff: rows.reduce(0) { $0 + $1.meanAbsPixelDiff } / n,
                    identical8bit: rows.allSatisfy(\.identical8bit))
            }
            self.groups = groups
        }
    }

    public var tool: String
    public var settings: Settings
    public var states: [State]
    /// Fraction of the watermark prompt's images that show the logo, per state name.
    public var watermarkRetention: [String: Double]
    /// The kept shifts baked into the weights (absent unless the evaluation compared them).
    public var baked: BakedComparison? = nil
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case tool, settings, states, seconds, baked
        case watermarkRetention = "watermark_retention"
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        // A degenerate metric (e.g. a Fréchet distance of identical single-colour sets) must not
        // make the whole report unwritable.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self) + Data("\n".utf8)
    }

    /// A short human-readable summary (also printed by `sepme demo`).
    public func markdown(grid: String?) -> String {
        var out = "# sepme evaluation\n\n"
        out += "Model `\(settings.model)`; \(settings.imagesPerPrompt) images per prompt (seed \(settings.seed)), "
        out += "\(settings.steps) steps, guidance \(settings.guidance). Accuracy: the toy classifier finds every attribute the prompt names; "
        out +=
            "pixel difference, SSIM, Fréchet distance (classifier features) and 8-bit identity are against the original model's images for the same seeds.\n\n"
        for state in states {
            out += "## \(state.name)" + (state.shifts.isEmpty ? " (no shifts)" : " (shifts: \(state.shifts.joined(separator: ", ")))") + "\n\n"
            out += "| prompt | group | accuracy | original | mean abs diff | SSIM | Fréchet | identical 8-bit |\n|---|---|---|---|---|---|---|---|\n"
            for c in state.concepts {
                out += "| \(c.prompt.isEmpty ? "\"\" (blank)" : c.prompt) | \(c.group) | \(pct(c.accuracy)) | \(pct(c.accuracyOriginal)) | "
                out += String(format: "%.4f | %.4f | %.3f | ", c.meanAbsPixelDiff, c.ssim, c.frechetDistance)
                out += c.identical8bit ? "yes |\n" : "no (\(c.identicalImages)/\(settings.imagesPerPrompt)) |\n"
            }
            out +=
                "\nGroups: "
                + state.groups.sorted { $0.key < $1.key }.map { g, v in
                    "\(g) \(pct(v.accuracy)) (original \(pct(v.accuracyOriginal)), \(v.prompts) prompts\(v.identical8bit ? ", identical" : ""))"
                }.joined(separator: "; ") + "\n\n"
        }
        if let baked { out += baked.markdown(imagesPerPrompt: settings.imagesPerPrompt) }
        if !watermarkRetention.isEmpty {
            out +=
                "Watermark retention: " + watermarkRetention.sorted { $0.key < $1.key }.map { "\($0.key) \(pct($0.value))" }.joined(separator: ", ")
                + "\n\n"
        }
        if let grid {
            out +=
                "Grid: `\(grid)` (rows: prompts in the order above; columns: original, then each later state, \(min(4, settings.imagesPerPrompt)) seeds each).\n"
        }
        return out
    }

    /// One row per prompt, one accuracy column per state, and whether each later state's images
    /// equal the original's in 8 bits (what `sepme demo` prints).
    public func summaryTable() -> String {
        guard let first = states.first else { return "" }
        let later = states.dropFirst()
        var out = "| prompt | group | " + states.map { "\($0.name) acc." }.joined(separator: " | ")
        out += later.isEmpty ? " |\n" : " | " + later.map { "\($0.name) = original (8-bit)" }.joined(separator: " | ") + " |\n"
        out += "|" + String(repeating: "---|", count: 2 + states.count + later.count) + "\n"
        for (i, row) in first.concepts.enumerated() {
            let groups = later.map { $0.concepts[i].group }
            out += "| \(row.prompt.isEmpty ? "\"\" (blank)" : row.prompt) | \(groups.last ?? row.group) | "
            out += states.map { pct($0.concepts[i].accuracy) }.joined(separator: " | ")
            out +=
                later.isEmpty
                ? " |\n"
                : " | "
                    + later.map { s -> String in
                        let c = s.concepts[i]
                        return c.identical8bit ? "yes" : "no (\(c.identicalImages)/\(settings.imagesPerPrompt))"
                    }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
}
