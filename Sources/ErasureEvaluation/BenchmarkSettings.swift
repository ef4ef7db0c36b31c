import ConceptErasure
import Diffusion
import Toy

/// Everything `ErasureBenchmark` does, fixed before it starts: which targets are erased (styles,
/// objects), the concept vocabulary the prompt grid is built from, the seeds per prompt, the
/// template sets scored, and the erasure's method, variant and hyper-parameters. Recorded in
/// `benchmark.json` and in every finished target's file, so that a resumed run can check that it
/// continues the same benchmark.
public struct BenchmarkSettings: Codable, Equatable, Sendable {
    /// Style targets (names of `ToyConcepts.styles`), erased one after the other.
    public var styles: [String] = []
    /// Object targets (names of `ToyConcepts.shapes`).
    public var objects: [String] = []
    /// The concepts the prompt grid draws on, by name: the model must know each word (a model
    /// trained on data set v1 knows only the first six shapes and four styles).
    public var gridShapes: [String] = BenchmarkSettings.firstDataSetShapes
    public var gridStyles: [String] = BenchmarkSettings.firstDataSetStyles
    public var gridColours: [String] = ToyConcepts.colours
    /// Template sets scored: the training set gives `ua`, `ira`, `cra`, the held-out set (when
    /// listed) the `*_heldout` columns.
    public var templateSets: [String] = ToyTemplateSet.allCases.map(\.rawValue)
    /// Images (seeds) per prompt, made in one pipeline call per prompt.
    public var seedsPerPrompt = 16
    public var seed: UInt64 = 0
    public var steps = 20
    public var guidance: Float = 4
    public var scheduler: SamplerKind?
    public var method: ErasureMethodKind = .sepme
    public var variant: ErasureVariant = .separate
    /// SepME's hyper-parameters (the baselines take theirs from `uce`, `esd`, `ca`).
    public var hyperparameters: ErasureHyperparameters = BenchmarkSettings.defaultHyperparameters
    /// The baselines' settings, each recorded in its own method's rows only; nil: `UCEOptions()`,
    /// `defaultESD`, `defaultCA`.
    public var uce: UCEOptions?
    public var esd: ESDOptions?
    public var ca: CAOptions?
    /// Prompts every erasure keeps unchanged (besides the blank prompt).
    public var protectedPrompts = [ToyConcepts.watermarkPrompt]
    /// Further wordings each target is erased on, besides its name (`ErasurePlan.conceptPrompts`),
    /// as templates: the target fills its own placeholder (`{style}` of a style target, `{shape}`
    /// of an object target) and each other placeholder (`{shape}`, `{style}`, `{colour}`) is
    /// expanded over the grid's concepts; "a {style} {shape}" erases a style on every grid shape.
    public var conceptTemplates: [String] = BenchmarkSettings.defaultConceptTemplates
    /// Targets of one kind erased together for the composition, restoration and protection
    /// columns (the first `compose` styles, else objects); 0 skips them.
    public var compose = 3
    /// What each composed shift is decoupled from among the other composed targets (SepME's
    /// decoupled variants); nil: every wording (`DecouplingScope.wordings`), as in files written
    /// before the setting existed.
    public var decoupling: DecouplingScope?
    /// Score the composition, restoration and protection columns only, no target's own row
    /// (nil: false, as in files written before the setting existed).
    public var compositionOnly: Bool?
    /// A short run for continuous integration (recorded; the caller shrinks the other settings).
    public var quick = false
    /// Score the original model only (its per-concept accuracy on the grid): no target is erased.
    public var originalOnly = false

    public init() {}

    /// The wordings every target is erased on by default: the target with each grid concept of the
    /// other domain ("a striped circle", ..., or "a solid circle", ... for an object). Picked on the
    /// training templates by the lever study of docs/erasure-benchmark.md: on its name alone a style
    /// the model also draws from longer captions (striped) stays recognisable.
    public static let defaultConceptTemplates = ["a {style} {shape}"]

    /// The wordings `method` is erased on when none are given: `defaultConceptTemplates`, except
    /// for UCE, which is erased on the target's name alone. UCE's closed form edits the token
    /// window from the erased prompt's last word to the end (`UCEClosedForm`); its authors' prompts
    /// all end in the concept ("Kelly McKernan", "art by Kelly McKernan"), while in "a striped
    /// circle" that window is the shape's, so the edit maps every shape's rows toward the blank
    /// prompt's and the grid's other prompts fall with them (docs/erasure-benchmark.md, "Protocol").
    public static func defaultConceptTemplates(for method: ErasureMethodKind) -> [String] {
        method == .uce ? [] : defaultConceptTemplates
    }

    /// ESD-x in the benchmark: the authors' settings but the learning rate, the smallest of a grid
    /// from theirs up at which the erasure of striped takes both of its test prompts to at most one
    /// striped image in eight on the embedded model (at their 1e-5 seven in eight stay striped):
    /// docs/erasure-benchmark.md, "Baselines' learning rates".
    public static let defaultESD = ESDOptions(learningRate: 1e-4)
    /// CA in the benchmark: the blank anchor, so that each wording loses the target's word ("a
    /// striped circle" is ablated to "a circle", `CAOptions.anchor(ofWording:concept:)`), and the
    /// learning rate picked as ESD-x's (at the authors' 2e-6 nothing is erased).
    public static let defaultCA = CAOptions(anchor: "", learningRate: 2e-3)

    /// `self` for `method`'s own rows: its baseline options filled in (the defaults above where
    /// none are given) and the other methods' options removed, so that a row records what made it
    /// and a SepME row records none of them. What composed shifts are decoupled from is SepME's
    /// setting too; the baselines compose dense shifts.
    public func forMethod(_ method: ErasureMethodKind) -> BenchmarkSettings {
        var s = self
        s.method = method
        s.decoupling = method == .sepme ? decoupling : nil
        s.uce = method == .uce ? uce : nil
        s.esd = method == .esdX ? esd ?? Self.defaultESD : nil
        s.ca = method == .ca ? ca ?? Self.defaultCA : nil
        return s
    }

    /// The first data set's shapes and styles: what the v1 toy model's vocabulary covers.
    public static let firstDataSetShapes = ["circle", "square", "triangle", "star", "cross", "heart"]
    public static let firstDataSetStyles = ["solid", "striped", "dotted", "outlined"]

    /// The demo's hyper-parameters (`ErasureDemo.hyperparameters`).
    public static var defaultHyperparameters: ErasureHyperparameters { ErasureDemo().hyperparameters }

    /// The settings for a quick end-to-end run: a grid of the first three shapes, three styles and
    /// two colours (the targets kept in it), the first two styles as the targets unless some are
    /// given (composed together), 2 seeds, 2 training images, 10 iterations at most, 6 sampling steps.
    public mutating func makeQuick() {
        quick = true
        if styles.isEmpty && objects.isEmpty && !originalOnly { styles = Array(gridStyles.prefix(2)) }
        compose = min(compose, 2)
        gridShapes = Self.shortened(gridShapes, keeping: objects, to: 3)
        gridStyles = Self.shortened(gridStyles, keeping: styles, to: 3)
        gridColours = Array(gridColours.prefix(2))
        seedsPerPrompt = 2
        steps = 6
        hyperparameters.images = 2
        hyperparameters.maxIterations = 10
        hyperparameters.minIterations = min(hyperparameters.minIterations, 10)
        hyperparameters.generationSteps = 6
        var e = esd ?? Self.defaultESD
        e.iterations = min(e.iterations, 10)
        esd = e
        var c = ca ?? Self.defaultCA
        c.iterations = min(c.iterations, 10)
        c.images = min(c.images, 2)
        ca = c
    }

    /// The settings of `method`'s plan: its options (the defaults described at `uce`, `esd`, `ca`)
    /// and what it keeps. ESD-x and CA keep no protected prompt (they fine-tune each concept on its
    /// own); SepME and UCE keep `protectedPrompts`. Only SepME has variants.
    func planSettings(for method: ErasureMethodKind) -> (
        uce: UCEOptions?, esd: ESDOptions?, ca: CAOptions?, protected: [String], variant: ErasureVariant
    ) {
        switch method {
        case .sepme: return (nil, nil, nil, protectedPrompts, variant)
        case .uce: return (uce ?? UCEOptions(), nil, nil, protectedPrompts, .separate)
        case .esdX: return (nil, esd ?? Self.defaultESD, nil, [], .separate)
        case .ca: return (nil, nil, ca ?? Self.defaultCA, [], .separate)
        }
    }

    /// Iterations one erasure of `method` runs at most (0 for UCE's closed form), for progress.
    public func iterationBudget(for method: ErasureMethodKind) -> Int {
        switch method {
        case .sepme: return hyperparameters.maxIterations
        case .uce: return 0
        case .esdX: return (esd ?? Self.defaultESD).iterations
        case .ca: return (ca ?? Self.defaultCA).iterations
        }
    }

    /// The first `count` names, with every one of `kept` that is in the list among them.
    static func shortened(_ names: [String], keeping kept: [String], to count: Int) -> [String] {
        let must = names.filter(kept.contains)
        return must + names.filter { !must.contains($0) }.prefix(max(0, count - must.count))
    }

    /// The shape, style and colour words of `ToyConcepts` that `knows` accepts (for a model folder:
    /// the words its tokenizer encodes as one known token), in label order.
    public static func knownConcepts(knows: (String) -> Bool) -> (shapes: [String], styles: [String], colours: [String]) {
        (ToyConcepts.shapes.filter(knows), ToyConcepts.styles.filter(knows), ToyConcepts.colours.filter(knows))
    }

    /// Settings key of `templateSets` entries.
    var parsedTemplateSets: [ToyTemplateSet] { templateSets.compactMap(ToyTemplateSet.init(rawValue:)) }

    /// Checks every value; the error names it by its settings key.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ allowed: String) throws {
            guard ok else { throw EvaluationError.outOfRange(key: key, value: "\(value)", allowed: allowed) }
        }
        func checkNames(_ names: [String], in known: [String], _ key: String) throws {
            for n in names where !known.contains(n) {
                throw EvaluationError.outOfRange(key: key, value: n, allowed: "one of \(known.joined(separator: ", "))")
            }
            if Set(names).count != names.count { throw EvaluationError.outOfRange(key: key, value: "\(names)", allowed: "each name once") }
        }
        try checkNames(gridShapes, in: ToyConcepts.shapes, "grid_shapes")
        try checkNames(gridStyles, in: ToyConcepts.styles, "grid_styles")
        try checkNames(gridColours, in: ToyConcepts.colours, "grid_colours")
        try check(gridShapes.count >= 2, "grid_shapes", gridShapes, "at least 2 shapes (an erased one and a retained one)")
        try check(gridStyles.count >= 2, "grid_styles", gridStyles, "at least 2 styles (an erased one and a retained one)")
        try check(!gridColours.isEmpty, "grid_colours", gridColours, "at least 1 colour")
        try checkNames(styles, in: gridStyles, "styles")
        try checkNames(objects, in: gridShapes, "objects")
        if originalOnly {
            try check(styles.isEmpty && objects.isEmpty, "targets", styles + objects, "none when only the original model is scored")
        } else {
            try check(!styles.isEmpty || !objects.isEmpty, "targets", "none", "at least one style or object to erase")
        }
        try checkNames(templateSets, in: ToyTemplateSet.allCases.map(\.rawValue), "template_sets")
        try check(
            templateSets.contains(ToyTemplateSet.training.rawValue), "template_sets", templateSets,
            "a list with \"\(ToyTemplateSet.training.rawValue)\" (the set ua, ira and cra are reported on)")
        try check(
            (2...ConceptEvaluator.Settings.imageLimit).contains(seedsPerPrompt), "seeds_per_prompt", seedsPerPrompt,
            "2...\(ConceptEvaluator.Settings.imageLimit) (the Fréchet distance needs two images)")
        try check((1...10_000).contains(steps), "steps", steps, "1...10000")
        try check(guidance.isFinite && guidance >= 0 && guidance <= 1000, "guidance", guidance, "[0, 1000]")
        try check(compose == 0 || (2...64).contains(compose), "compose", compose, "0 (none) or 2...64 targets")
        if let decoupling, decoupling != .wordings {
            try check(
                method == .sepme && variant.isDecoupled, "decoupling", decoupling.rawValue,
                "wordings (the default) unless the method is sepme with a decoupled variant (separate, joint)")
        }
        if compositionOnly == true {
            try check(compose >= 2 && styles.count + objects.count >= 2, "composition_only", compose, "2 or more targets to compose (--compose)")
        }
        for t in conceptTemplates {
            let kinds = (styles.isEmpty ? [] : ["{style}"]) + (objects.isEmpty ? [] : ["{shape}"])
            try check(
                kinds.allSatisfy(t.contains), "concept_templates", t,
                "a template with the placeholder of every target kind (\(kinds.joined(separator: ", ")))")
            var rest = t
            for p in ["{shape}", "{style}", "{colour}"] { rest = rest.replacingOccurrences(of: p, with: "") }
            try check(!rest.contains("{") && !rest.contains("}"), "concept_templates", t, "placeholders {shape}, {style} and {colour} only")
        }
        try check(conceptTemplates.count <= 16, "concept_templates", conceptTemplates.count, "at most 16 templates")
        try hyperparameters.validate()
        try uce?.validate()
        try esd?.validate()
        try ca?.validate()
    }

    /// The evaluator settings of the grid's images.
    var evaluation: ConceptEvaluator.Settings {
        var s = ConceptEvaluator.Settings()
        s.imagesPerPrompt = seedsPerPrompt
        s.seed = seed
        s.steps = steps
        s.guidance = guidance
        s.scheduler = scheduler
        return s
    }

    enum CodingKeys: String, CodingKey {
        case styles, objects, seed, steps, guidance, scheduler, method, variant, hyperparameters, quick, compose, uce, ca
        case esd = "esd_x"
        case gridShapes = "grid_shapes"
        case gridStyles = "grid_styles"
        case gridColours = "grid_colours"
        case templateSets = "template_sets"
        case seedsPerPrompt = "seeds_per_prompt"
        case protectedPrompts = "protected"
        case conceptTemplates = "concept_templates"
        case originalOnly = "original_only"
        case decoupling
        case compositionOnly = "composition_only"
    }
}
