import Foundation
import ImageIO

/// The `baked` section of `report.json`: the kept shifts baked into the weights as `sepme apply`
/// writes them (`ShiftSet.withShiftsFused`), on the prompts they should leave alone, compared in 8 bits with the
/// original model's images and with the adapter path's images for the same seeds.
public struct BakedComparison: Codable, Equatable, Sendable {
    public struct PromptResult: Codable, Equatable, Sendable {
        public var prompt: String
        /// The prompt's group in the adapter state (protected, restored or regular).
        public var group: String
        /// Baked images against the original model's: every image equal in 8 bits.
        public var identical8bit: Bool
        public var identicalImages: Int
        /// Largest |baked − original| over every pixel and channel, in 8-bit levels (0...255).
        public var maxAbsLevelDiff: Int
        /// How many 8-bit values (pixel channels, over all images) differ from the original's.
        public var differingValues: Int
        /// The adapter path's images against the original model's (the same figures).
        public var adapterIdentical8bit: Bool
        public var adapterIdenticalImages: Int
        public var adapterMaxAbsLevelDiff: Int
        /// Baked images against the adapter path's.
        public var identicalToAdapter8bit: Bool
        public var identicalToAdapterImages: Int
        public var maxAbsLevelDiffToAdapter: Int

        enum CodingKeys: String, CodingKey {
            case prompt, group
            case identical8bit = "identical_8bit"
            case identicalImages = "identical_images"
            case maxAbsLevelDiff = "max_abs_level_diff"
            case differingValues = "differing_values"
            case adapterIdentical8bit = "adapter_identical_8bit"
            case adapterIdenticalImages = "adapter_identical_images"
            case adapterMaxAbsLevelDiff = "adapter_max_abs_level_diff"
            case identicalToAdapter8bit = "identical_to_adapter_8bit"
            case identicalToAdapterImages = "identical_to_adapter_images"
            case maxAbsLevelDiffToAdapter = "max_abs_level_diff_to_adapter"
        }

        /// Compares one prompt's images (the same seeds, in the same order, in each list).
        public init(prompt: String, group: String, baked: [RGBImage], adapter: [RGBImage], original: [RGBImage]) {
            self.prompt = prompt
            self.group = group
            let toOriginal = Self.compare(baked, original)
            let adapterToOriginal = Self.compare(adapter, original)
            let toAdapter = Self.compare(baked, adapter)
            identicalImages = toOriginal.identical
            identical8bit = toOriginal.identical == baked.count
            maxAbsLevelDiff = toOriginal.maxDiff
            differingValues = zip(baked, original).reduce(0) { n, pair in
                n + zip(pair.0.pixels, pair.1.pixels).filter { $0 != $1 }.count
            }
            adapterIdentical8bit = adapterToOriginal.identical == adapter.count
            adapterIdenticalImages = adapterToOriginal.identical
            adapterMaxAbsLevelDiff = adapterToOriginal.maxDiff
            identicalToAdapterImages = toAdapter.identical
            identicalToAdapter8bit = toAdapter.identical == baked.count
            maxAbsLevelDiffToAdapter = toAdapter.maxDiff
        }

        static func compare(_ a: [RGBImage], _ b: [RGBImage]) -> (identical: Int, maxDiff: Int) {
            precondition(a.count == b.count, "image lists of different lengths")
            let pairs = zip(a, b)
            return (
                pairs.filter { ImageMetrics.identical($0, $1) }.count,
                pairs.map { ImageMetrics.maxAbsoluteLevelDifference($0, $1) }.max() ?? 0
            )
        }
    }

    /// Concepts of the baked shifts.
    public var shifts: [String]
    /// The report state whose adapters apply exactly these shifts.
    public var adapterState: String
    public var prompts: [PromptResult]

    enum CodingKeys: String, CodingKey {
        case shifts, prompts
        case adapterState = "adapter_state"
    }

    public init(shifts: [String], adapterState: String, prompts: [PromptResult]) {
        self.shifts = shifts
        self.adapterState = adapterState
        self.prompts = prompts
    }

    /// Every prompt's baked images equal the original's in 8 bits.
    public var identical8bit: Bool { prompts.allSatisfy(\.identical8bit) }

    /// One line: how many of the left-alone prompts' images stay identical with the shifts baked in.
    public func summaryLine(imagesPerPrompt: Int) -> String {
        let total = prompts.count * imagesPerPrompt
        let same = prompts.reduce(0) { $0 + $1.identicalImages }
        let adapterSame = prompts.reduce(0) { $0 + $1.adapterIdenticalImages }
        var line = "baked into the weights as `sepme apply` writes them (\(shifts.joined(separator: ", "))), "
        line += "the \(prompts.count) prompts they should leave alone: \(same)/\(total) images identical to the original in 8 bits"
        if same < total {
            let worst = prompts.map(\.maxAbsLevelDiff).max() ?? 0
            let values = prompts.reduce(0) { $0 + $1.differingValues }
            line += " (the others differ in \(values) 8-bit values, by at most \(worst))"
        }
        return line + "; as adapters: \(adapterSame)/\(total)"
    }

    /// The report.md section.
    func markdown(imagesPerPrompt: Int) -> String {
        var out = "## baked (shifts: \(shifts.joined(separator: ", ")) added to the weights, as `sepme apply` writes them)\n\n"
        out += "The prompts these shifts should leave alone, with W + Σ dW in float32 (no adapter, so no reach mask), "
        out += "against the original model's images and the `\(adapterState)` state's (the same shifts as adapters). "
        out += "Differences in 8-bit levels.\n\n"
        out +=
            "| prompt | group | baked = original (8-bit) | max diff | differing values | adapter = original | adapter max diff | baked = adapter | max diff |\n"
        out += "|---|---|---|---|---|---|---|---|---|\n"
        for p in prompts {
            let name = p.prompt.isEmpty ? "\"\" (blank)" : p.prompt
            out += "| \(name) | \(p.group) | \(Self.count(p.identicalImages, imagesPerPrompt)) | \(p.maxAbsLevelDiff) | \(p.differingValues) | "
            out += "\(Self.count(p.adapterIdenticalImages, imagesPerPrompt)) | \(p.adapterMaxAbsLevelDiff) | "
            out += "\(Self.count(p.identicalToAdapterImages, imagesPerPrompt)) | \(p.maxAbsLevelDiffToAdapter) |\n"
        }
        return out + "\n"
    }

    static func count(_ identical: Int, _ total: Int) -> String {
        identical == total ? "yes" : "no (\(identical)/\(total))"
    }
}
