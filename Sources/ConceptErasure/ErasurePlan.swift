import Foundation

/// Everything an erasure will do, fixed and checked before any work starts: which concepts, which
/// prompts the shifts must leave unchanged, which existing shifts they must not disturb, the
/// method and variant, every hyper-parameter, and where the training images come from.
/// `sepme erase`, the demo and the evaluation build one and hand it to `ErasureRun`; it is
/// Codable so that it can be written out and run later, concept by concept.
public struct ErasurePlan: Codable, Equatable, Sendable {
    public let method: ErasureMethodKind
    /// The concept prompts to erase, one shift each, in this order.
    public let concepts: [String]
    /// Further wordings of a concept, by concept: its shift is trained on the concept prompt and
    /// these (training images and conditionings cycled over them) and every other shift of the
    /// plan is decoupled from all of them. A concept not listed is erased on its own prompt alone.
    public let conceptPrompts: [String: [String]]
    /// Prompts every shift must leave unchanged (besides the blank prompt), e.g. a watermark trigger.
    public let protectedPrompts: [String]
    /// Concepts of existing shifts the new shifts must not disturb.
    public let decoupleFrom: [String]
    /// Which prompts of the other concepts of this plan each shift is decoupled from.
    public let decoupling: DecouplingScope
    public let variant: ErasureVariant
    public let hyperparameters: ErasureHyperparameters
    /// A folder of the user's PNG images to train on instead of generated ones.
    public let imagesFolder: String?
    /// The settings of UCE (`method` uce only; the defaults when the plan gives none).
    public let uce: UCEOptions?
    /// The settings of ESD-x (`method` esd-x only; the defaults when the plan gives none).
    public let esd: ESDOptions?
    /// The settings of CA (`method` ca only, and required there: the anchor has no default).
    public let ca: CAOptions?

    /// Checks the plan; every problem is a named error.
    public init(
        method: ErasureMethodKind = .sepme, concepts: [String], conceptPrompts: [String: [String]] = [:], protectedPrompts: [String] = [],
        decoupleFrom: [String] = [], decoupling: DecouplingScope = .wordings, variant: ErasureVariant = .separate,
        hyperparameters: ErasureHyperparameters? = nil, imagesFolder: String? = nil, uce: UCEOptions? = nil,
        esd: ESDOptions? = nil, ca: CAOptions? = nil
    ) throws {
        self.method = method
        self.concepts = concepts
        self.conceptPrompts = conceptPrompts
        self.protectedPrompts = protectedPrompts
        self.decoupleFrom = decoupleFrom
        self.decoupling = decoupling
        self.variant = variant
        self.hyperparameters = hyperparameters ?? .defaults(for: variant)
        self.imagesFolder = imagesFolder
        self.uce = method == .uce ? uce ?? UCEOptions() : uce
        self.esd = method == .esdX ? esd ?? ESDOptions() : esd
        self.ca = ca
        try validate()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decode(ErasureMethodKind.self, forKey: .method)
        concepts = try c.decode([String].self, forKey: .concepts)
        conceptPrompts = try c.decodeIfPresent([String: [String]].self, forKey: .conceptPrompts) ?? [:]
        protectedPrompts = try c.decode([String].self, forKey: .protectedPrompts)
        decoupleFrom = try c.decode([String].self, forKey: .decoupleFrom)
        decoupling = try c.decodeIfPresent(DecouplingScope.self, forKey: .decoupling) ?? .wordings
        variant = try c.decode(ErasureVariant.self, forKey: .variant)
        hyperparameters = try c.decode(ErasureHyperparameters.self, forKey: .hyperparameters)
        imagesFolder = try c.decodeIfPresent(String.self, forKey: .imagesFolder)
        let uce = try c.decodeIfPresent(UCEOptions.self, forKey: .uce)
        self.uce = method == .uce ? uce ?? UCEOptions() : uce
        let esd = try c.decodeIfPresent(ESDOptions.self, forKey: .esd)
        self.esd = method == .esdX ? esd ?? ESDOptions() : esd
        ca = try c.decodeIfPresent(CAOptions.self, forKey: .ca)
        try validate()
    }

    enum CodingKeys: String, CodingKey {
        case method, concepts
        case conceptPrompts = "concept_prompts"
        case protectedPrompts = "protected"
        case decoupleFrom = "decouple_from"
        case decoupling
        case variant
        case hyperparameters
        case imagesFolder = "images_folder"
        case uce
        case esd = "esd_x"
        case ca
    }

    private func validate() throws {
        try hyperparameters.validate()
        guard !concepts.isEmpty else { throw ErasureError.invalidPlan(field: "concepts", reason: "no concept to erase") }
        if let i = concepts.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw ErasureError.invalidPlan(
                field: "concepts", reason: "concept \(i + 1) is empty: the blank prompt is what every shift keeps unchanged")
        }
        var byKey: [String: String] = [:]
        var byFile: [String: String] = [:]
        for c in concepts {
            if let first = byKey[Self.key(c)] {
                throw ErasureError.invalidPlan(field: "concepts", reason: "the concept '\(c)' is listed twice (also as '\(first)')")
            }
            byKey[Self.key(c)] = c
            let file = Self.shiftFileName(c)
            if let first = byFile[file] {
                throw ErasureError.invalidPlan(
                    field: "concepts", reason: "the concepts '\(first)' and '\(c)' would both be written to \(file); rename one")
            }
            byFile[file] = c
        }
        for (concept, prompts) in conceptPrompts.sorted(by: { $0.key < $1.key }) {
            guard concepts.contains(concept) else {
                throw ErasureError.invalidPlan(field: "concept_prompts", reason: "'\(concept)' is not one of the concepts to erase")
            }
            if prompts.contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
                throw ErasureError.invalidPlan(
                    field: "concept_prompts", reason: "'\(concept)' lists an empty prompt: the blank prompt is what every shift keeps unchanged")
            }
        }
        var owner: [String: String] = [:]
        for k in concepts.indices {
            for p in prompts(ofConceptAt: k) {
                if let other = owner[Self.key(p)], other != concepts[k] {
                    throw ErasureError.invalidPlan(
                        field: "concept_prompts", reason: "the prompt '\(p)' belongs to both '\(other)' and '\(concepts[k])'")
                }
                owner[Self.key(p)] = concepts[k]
            }
        }
        for p in protectedPrompts {
            if let c = owner[Self.key(p)] {
                throw ErasureError.invalidPlan(
                    field: "protected", reason: "the concept '\(c)' is also listed as protected: a shift cannot both change and keep it")
            }
        }
        for d in decoupleFrom {
            if let c = owner[Self.key(d)] {
                throw ErasureError.invalidPlan(
                    field: "decouple_from", reason: "the concept '\(c)' is also a concept to decouple from (an existing shift erases it already)")
            }
        }
        try validateMethodSettings()
    }

    /// The variant is SepME's; the settings under `uce`, `esd_x` and `ca` are UCE's, ESD-x's and
    /// CA's. Another method refuses them.
    private func validateMethodSettings() throws {
        if decoupling != .wordings, method != .sepme || !variant.isDecoupled {
            throw ErasureError.invalidPlan(
                field: "decoupling",
                reason:
                    "'\(decoupling.rawValue)' chooses what SepME's decoupled variants decouple from; \(method == .sepme ? "the variant '\(variant.rawValue)'" : "the method '\(method.rawValue)'") decouples nothing"
            )
        }
        if method != .sepme, variant != .separate {
            throw ErasureError.invalidPlan(
                field: "variant",
                reason: "the variant '\(variant.rawValue)' is a SepME variant; the method '\(method.rawValue)' erases each concept on its own")
        }
        try validateFineTuningSettings()
        guard let uce else { return }
        guard method == .uce else {
            let setting = uce.firstChangedSetting
            throw ErasureError.invalidPlan(
                field: setting.key, reason: "the method '\(method.rawValue)' has no \(setting.name); it belongs to the method 'uce'")
        }
        try uce.validate()
        let erased = Set(concepts.indices.flatMap(prompts(ofConceptAt:)).map(Self.key))
        if let p = uce.preserve.first(where: { erased.contains(Self.key($0)) }) {
            throw ErasureError.invalidPlan(
                field: UCEOptions.preserveKey, reason: "'\(p)' is erased and preserved at once: a shift cannot both change and keep it")
        }
    }

    /// ESD-x and CA: their settings with their method only; CA needs an anchor that differs from
    /// every wording it replaces. Both fine-tune each concept from the base model on generated data,
    /// so protected prompts, existing shifts to decouple from and a folder of training images have
    /// no role in them and are refused rather than ignored.
    private func validateFineTuningSettings() throws {
        if let esd {
            guard method == .esdX else {
                let setting = esd.firstChangedSetting
                throw ErasureError.invalidPlan(
                    field: setting.key, reason: "the method '\(method.rawValue)' has no \(setting.name); it belongs to the method 'esd-x'")
            }
            try esd.validate()
        }
        if method == .ca, ca == nil {
            throw ErasureError.invalidPlan(
                field: CAOptions.anchorKey,
                reason: "the method 'ca' needs an anchor prompt that the concept is ablated to, e.g. the concept prompt without its style word")
        }
        if let ca {
            guard method == .ca else {
                throw ErasureError.invalidPlan(
                    field: CAOptions.anchorKey, reason: "the method '\(method.rawValue)' has no anchor prompt; it belongs to the method 'ca'")
            }
            try ca.validate()
            for k in concepts.indices {
                for p in prompts(ofConceptAt: k) where Self.key(ca.anchor(ofWording: p, concept: concepts[k])) == Self.key(p) {
                    throw ErasureError.invalidPlan(
                        field: CAOptions.anchorKey,
                        reason: "the anchor '\(ca.anchor)' leaves '\(p)' as it is: the anchor must differ from the concept it replaces")
                }
            }
        }
        guard method == .esdX || method == .ca else { return }
        let refusal = "the method '\(method.rawValue)' fine-tunes each concept on its own from the base model"
        if !protectedPrompts.isEmpty {
            throw ErasureError.invalidPlan(field: "protected", reason: "\(refusal) and keeps no protected prompt")
        }
        if !decoupleFrom.isEmpty {
            throw ErasureError.invalidPlan(field: "decouple_from", reason: "\(refusal) and is not decoupled from existing shifts")
        }
        if imagesFolder != nil {
            throw ErasureError.invalidPlan(field: "images_folder", reason: "\(refusal) on data it generates and takes no training images")
        }
    }

    /// Whether each concept's shift depends only on the plan, not on the other concepts' training:
    /// then its concepts can be trained one per process (`ErasureRun.index`). Every method but
    /// SepME's joint and full variants, which train all concepts in one loop.
    public var trainsConceptsIndependently: Bool { method != .sepme || variant == .separate }

    /// The same plan with the null space found with relative tolerance `tolerance` (nil: exact).
    public func withNullSpaceTolerance(_ tolerance: Double?) throws -> ErasurePlan {
        var h = hyperparameters
        h.nullSpaceTolerance = tolerance
        return try ErasurePlan(
            method: method, concepts: concepts, conceptPrompts: conceptPrompts, protectedPrompts: protectedPrompts,
            decoupleFrom: decoupleFrom, decoupling: decoupling, variant: variant, hyperparameters: h, imagesFolder: imagesFolder, uce: uce, esd: esd,
            ca: ca)
    }

    /// Prompts compare by their trimmed, case-folded text.
    static func key(_ prompt: String) -> String { prompt.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }

    /// The file name of a concept's shift: `<slug>.sepme.safetensors`.
    public static func shiftFileName(_ concept: String) -> String { "\(ConceptShift.slug(concept)).sepme.safetensors" }

    /// The prompts concept k is erased on: the concept prompt, then its further wordings
    /// (`conceptPrompts`) without repeats.
    public func prompts(ofConceptAt k: Int) -> [String] {
        var seen: Set<String> = []
        return ([concepts[k]] + (conceptPrompts[concepts[k]] ?? [])).filter { seen.insert(Self.key($0)).inserted }
    }

    /// The prompts whose embeddings concept k's null space excludes, besides the blank prompt, in
    /// the order they are stacked (method.md §1): protected prompts, the other concepts' prompts
    /// (all their wordings, or their names alone: `decoupling`), then the concepts of existing shifts.
    public func decouplingPrompts(forConceptAt k: Int) -> [String] {
        protectedPrompts + otherConceptPrompts(k) + decoupleFrom
    }

    /// The prompts concept k's shift is recorded as decoupled from: existing shifts' concepts, then
    /// the plan's other concepts' prompts; none for the `full` variant, which is not decoupled.
    public func decoupledFrom(conceptAt k: Int) -> [String] {
        variant.isDecoupled ? decoupleFrom + otherConceptPrompts(k) : []
    }

    private func otherConceptPrompts(_ k: Int) -> [String] {
        let others = concepts.indices.filter { $0 != k }
        switch decoupling {
        case .wordings: return others.flatMap(prompts(ofConceptAt:))
        case .names: return others.map { concepts[$0] }
        }
    }
}

/// The erasure methods `ErasureRun` can run; recorded in every plan and shift file (`method`).
public enum ErasureMethodKind: String, Codable, CaseIterable, Sendable {
    /// SepME / SRS-ME (method.md).
    case sepme
    /// UCE, the closed-form edit of Gandikota et al. (WACV 2024): `UCEMethod`.
    case uce
    /// ESD-x, the cross-attention variant of ESD, Gandikota et al. (ICCV 2023): `ESDMethod`.
    case esdX = "esd-x"
    /// CA, model-based concept ablation of Kumari et al. (ICCV 2023): `CAMethod`.
    case ca

    /// Reads the raw value; shift files of sepme 0.1.0 wrote SepME as "SRS-ME".
    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let kind = raw == "SRS-ME" ? .sepme : ErasureMethodKind(rawValue: raw) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "'\(raw)' is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        self = kind
    }

    /// The method's implementation.
    var implementation: ErasureMethod {
        switch self {
        case .sepme: return SepMEMethod()
        case .uce: return UCEMethod()
        case .esdX: return ESDMethod()
        case .ca: return CAMethod()
        }
    }
}
