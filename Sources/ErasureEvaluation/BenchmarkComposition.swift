import ImageIO

/// SepME's own benchmark columns (method.md §5), which accuracy tables of other methods lack:
///
/// - composition: the first k targets of one kind erased by one plan (one shift each, decoupled
///   from each other for the `separate` and `joint` variants) and applied together; UA of each,
///   IRA over the same domain's concepts that are not erased, CRA over the other domain;
/// - restoration: the first target's shift removed, the others kept: whether that target's images
///   are back to the original model's, bit for bit after 8-bit quantisation, and whether the
///   others stay erased;
/// - protection: with all k shifts applied, whether the blank prompt and every protected prompt
///   (the watermark trigger) draw exactly the original model's images.
public struct BenchmarkComposition: Codable, Equatable, Sendable {
    public var kind: BenchmarkPromptGrid.Kind
    /// The composed targets, in plan order.
    public var targets: [String]
    /// UA of each composed target (training templates), by target name.
    public var ua: [String: Double]
    public var uaMean: Double
    /// nil when every concept of the domain is composed (no retained prompt of the domain is left).
    @NullWhenAbsent public var ira: Double? = nil
    public var cra: Double
    /// Retained images (IRA and CRA prompts) against the original model's, same seeds.
    public var ssimRetained: Double
    public var pixelDiffRetained: Double
    /// Wall time of the composed erasure (one plan, every target) and its iterations.
    public var seconds: Double
    public var iterations: Int

    enum CodingKeys: String, CodingKey {
        case kind, targets, ua, ira, cra, seconds, iterations
        case uaMean = "ua_mean"
        case ssimRetained = "ssim_retained"
        case pixelDiffRetained = "pixel_diff_retained"
    }
}

/// The restoration column (see `BenchmarkComposition`).
public struct BenchmarkRestoration: Codable, Equatable, Sendable {
    /// The target whose shift was removed.
    public var restored: String
    /// The shifts still applied.
    public var kept: [String]
    /// Images of the restored target's concept prompts (its name and further wordings: what the
    /// other shifts are decoupled from) that are identical to the original model's in 8 bits, and
    /// how many were compared.
    public var conceptImagesIdentical: Int
    public var conceptImages: Int
    /// The same over the restored target's UA prompts (wordings the other shifts are not decoupled
    /// from, unless they are among its concept prompts).
    public var gridImagesIdentical: Int
    public var gridImages: Int
    /// Share of the restored target's UA images that show the target again, and the same share on
    /// the original model.
    public var restoredAccuracy: Double
    public var originalAccuracy: Double
    /// UA of each still-applied target after the removal.
    public var stillErasedUA: [String: Double]

    /// The restored target's concept-prompt images are all identical to the original's.
    public var identical: Bool { conceptImagesIdentical == conceptImages }

    enum CodingKeys: String, CodingKey {
        case restored, kept, identical
        case conceptImagesIdentical = "concept_images_identical"
        case conceptImages = "concept_images"
        case gridImagesIdentical = "grid_images_identical"
        case gridImages = "grid_images"
        case restoredAccuracy = "restored_accuracy"
        case originalAccuracy = "original_accuracy"
        case stillErasedUA = "still_erased_ua"
    }

    public init(
        restored: String, kept: [String], conceptImagesIdentical: Int, conceptImages: Int, gridImagesIdentical: Int, gridImages: Int,
        restoredAccuracy: Double, originalAccuracy: Double, stillErasedUA: [String: Double]
    ) {
        self.restored = restored
        self.kept = kept
        self.conceptImagesIdentical = conceptImagesIdentical
        self.conceptImages = conceptImages
        self.gridImagesIdentical = gridImagesIdentical
        self.gridImages = gridImages
        self.restoredAccuracy = restoredAccuracy
        self.originalAccuracy = originalAccuracy
        self.stillErasedUA = stillErasedUA
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        restored = try c.decode(String.self, forKey: .restored)
        kept = try c.decode([String].self, forKey: .kept)
        conceptImagesIdentical = try c.decode(Int.self, forKey: .conceptImagesIdentical)
        conceptImages = try c.decode(Int.self, forKey: .conceptImages)
        gridImagesIdentical = try c.decode(Int.self, forKey: .gridImagesIdentical)
        gridImages = try c.decode(Int.self, forKey: .gridImages)
        restoredAccuracy = try c.decode(Double.self, forKey: .restoredAccuracy)
        originalAccuracy = try c.decode(Double.self, forKey: .originalAccuracy)
        stillErasedUA = try c.decode([String: Double].self, forKey: .stillErasedUA)
    }

    // `identical` is written for readers of the JSON; it is derived, so it is not read back.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(restored, forKey: .restored)
        try c.encode(kept, forKey: .kept)
        try c.encode(identical, forKey: .identical)
        try c.encode(conceptImagesIdentical, forKey: .conceptImagesIdentical)
        try c.encode(conceptImages, forKey: .conceptImages)
        try c.encode(gridImagesIdentical, forKey: .gridImagesIdentical)
        try c.encode(gridImages, forKey: .gridImages)
        try c.encode(restoredAccuracy, forKey: .restoredAccuracy)
        try c.encode(originalAccuracy, forKey: .originalAccuracy)
        try c.encode(stillErasedUA, forKey: .stillErasedUA)
    }
}

/// The protection column (see `BenchmarkComposition`): per protected prompt (the blank prompt
/// first), how many of its images are identical to the original model's in 8 bits.
public struct BenchmarkProtection: Codable, Equatable, Sendable {
    public struct Prompt: Codable, Equatable, Sendable {
        /// "" for the blank prompt.
        public var prompt: String
        public var identical: Int
        public var images: Int
    }
    public var prompts: [Prompt]

    /// Every protected prompt's images are identical to the original's.
    public var identical: Bool { prompts.allSatisfy { $0.identical == $0.images } }

    enum CodingKeys: String, CodingKey { case prompts, identical }

    public init(prompts: [Prompt]) { self.prompts = prompts }

    public init(from decoder: Decoder) throws {
        prompts = try decoder.container(keyedBy: CodingKeys.self).decode([Prompt].self, forKey: .prompts)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompts, forKey: .prompts)
        try c.encode(identical, forKey: .identical)
    }

    /// How many images of `edited` equal the image of `original` at the same index (8-bit pixels).
    public static func identicalCount(_ edited: [RGBImage], _ original: [RGBImage]) -> Int {
        zip(edited, original).filter { $0 == $1 }.count
    }
}
