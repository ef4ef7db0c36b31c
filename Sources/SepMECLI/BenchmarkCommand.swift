import ArgumentParser
import ConceptErasure
import Diffusion
import ErasureEvaluation
import Foundation
import Toy

extension ErasureMethodKind: ExpressibleByArgument {}

/// A `--method` value of `benchmark`: one method, or `all` of them.
enum BenchmarkMethodChoice: ExpressibleByArgument, Equatable {
    case one(ErasureMethodKind)
    case all

    init?(argument: String) {
        if argument == "all" {
            self = .all
        } else if let kind = ErasureMethodKind(rawValue: argument) {
            self = .one(kind)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ErasureMethodKind.allCases.map(\.rawValue) + ["all"] }

    /// The methods of the choices, in the order given (`all` in `ErasureMethodKind` order), each once.
    static func methods(_ choices: [BenchmarkMethodChoice]) -> [ErasureMethodKind] {
        var out: [ErasureMethodKind] = []
        for c in choices {
            let kinds: [ErasureMethodKind] = { if case .one(let k) = c { return [k] } else { return ErasureMethodKind.allCases } }()
            for k in kinds where !out.contains(k) { out.append(k) }
        }
        return out.isEmpty ? [.sepme] : out
    }
}

/// `sepme benchmark`: erase each style (and object) target in turn and score UA, IRA, CRA and the
/// specificity of the retained prompts on the toy testbed (not `sepme bench`, the speed benchmarks).
struct BenchmarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Erase each target style or object and score UA, IRA, CRA and the retained prompts' SSIM, pixel difference and Fréchet distance.",
        discussion: """
            The prompt grid uses the shapes and styles the model's tokenizer knows as words (or --grid-shapes, --grid-styles) \
            and every colour (each shape in one). Then the first --compose targets are erased together, one shift is removed (restoration) and the blank and \
            watermark prompts are checked (protection). Writes benchmark.json and benchmark.md; finished targets are kept under targets/ for --resume.
            """)

    @OptionGroup var modelOptions: ToyModelOptions
    @Option(parsing: .upToNextOption, help: "Styles to erase, one run each (default: every style of the grid).") var styles: [String] = []
    @Option(parsing: .upToNextOption, help: "Objects (shapes) to erase, one run each (default: none).") var objects: [String] = []
    @Option(parsing: .upToNextOption, help: "Shapes of the prompt grid (default: those the model's tokenizer knows).") var gridShapes: [String] = []
    @Option(parsing: .upToNextOption, help: "Styles of the prompt grid (default: those the model's tokenizer knows).") var gridStyles: [String] = []
    @Option(help: "Caption templates scored: training, held-out (repeatable; default both).") var templateSet: [String] = []
    @Option(help: "Images (seeds) per prompt.") var seeds: Int = 16
    @Option(help: "Seed of the first image of each prompt.") var seed: UInt64 = 0
    @Option(
        help: """
            Erasure method, sepme, uce, esd-x or ca (repeatable), or all: the baselines with their authors' settings but for \
            uce's wording (the name alone) and the fine-tuning baselines' learning rates (--esd-x-lr, --ca-lr); ca: each wording \
            without the target's word as its anchor. With more than one, each method's benchmark is written to <output>/<method>/ and \
            comparison.json, comparison.md and comparison.png compare them.
            """)
    var method: [BenchmarkMethodChoice] = []
    @Option(help: "sepme's variant: separate (SRS-ME), joint (SRS-ME†) or full (SRS-ME‡).") var variant: ErasureVariant = .separate
    @Option(help: "esd-x: Adam learning rate (default 1e-4; the authors' is 1e-5).") var esdXLr: Double?
    @Option(help: "ca: Adam learning rate (default 2e-3; the authors' is 2e-6).") var caLr: Double?
    @Option(help: "Maximum unlearning iterations per target.") var maxIterations: Int?
    @Option(help: "Training images generated per target.") var images: Int?
    @Option(help: "Shift scale beta in dW = beta A S (default: the demo's).") var beta: Double?
    @Option(help: "Adam learning rate of the unlearning.") var lr: Double?
    @Option(help: "Stop once the momentum statistic of the loss reaches tau.") var tau: Double?
    @Option(help: "Approximate null space: singular values below tolerance*sigma_max count as zero.") var tolerance: Double?
    @Option(
        help: """
            A further wording each target is erased on by every method (repeatable): the target fills its own placeholder, {shape}, \
            {style} and {colour} expand over the grid (default: "a {style} {shape}"; uce: the name alone, since its edit starts at \
            the prompt's last word).
            """)
    var conceptTemplate: [String] = []
    @Flag(help: "Erase each target on its name only, without the default wording \"a {style} {shape}\".") var nameOnly = false
    @Option(help: "A prompt every erasure keeps unchanged, besides the blank prompt and the watermark (repeatable).") var protect: [String] = []
    @OptionGroup var sampling: SamplingOptions<ToySamplingDefaults>
    @Option(help: "Output folder.") var output: String = "benchmark-output"
    @Flag(help: "Score the original model only: each concept's accuracy on the grid, no erasure.") var originalOnly = false
    @Flag(help: "Skip the targets an interrupted run with the same settings finished.") var resume = false
    @Option(help: "Targets of one kind erased together for the composition, restoration and protection columns (0: none).")
    var compose: Int = 3
    @Option(
        help:
            "sepme: what each composed shift is decoupled from among the other composed targets: every wording (wordings, the default) or their names (names)."
    ) var decouple: DecouplingScope?
    @Flag(help: "Score only the composition, restoration and protection columns, no target's own row.") var compositionOnly = false
    @Flag(help: "A short run: the first two grid styles (unless targets are given), composed; 2 seeds, 6 steps, 2 training images, 10 iterations.")
    var quick = false
    @OptionGroup var verbosity: QuietOption

    static let flags: [String: String] = ErasureFlags.erase.merging([
        "styles": "--styles", "objects": "--objects", "grid_shapes": "--grid-shapes", "grid_styles": "--grid-styles",
        "targets": "--styles/--objects/--original-only", "seeds_per_prompt": "--seeds", "steps": "--steps", "guidance": "--guidance",
        "generation_steps": "--steps", "generation_guidance": "--guidance", "compose": "--compose", "template_sets": "--template-set",
        "composition_only": "--composition-only", "decoupling": "--decouple",
        "concept_templates": "--concept-template", "esd_x.lr": "--esd-x-lr", "ca.lr": "--ca-lr",
        "protected": "--protect"
    ]) { _, new in new }

    /// The settings these flags describe, for a model whose tokenizer knows the words `knows` accepts.
    func settings(knows: (String) -> Bool) -> BenchmarkSettings {
        var s = BenchmarkSettings()
        let known = BenchmarkSettings.knownConcepts(knows: knows)
        s.gridShapes = gridShapes.isEmpty ? known.shapes : gridShapes
        s.gridStyles = gridStyles.isEmpty ? known.styles : gridStyles
        s.gridColours = known.colours
        s.objects = objects
        s.styles = styles.isEmpty && objects.isEmpty && !quick && !originalOnly ? s.gridStyles : styles
        s.originalOnly = originalOnly
        if !templateSet.isEmpty { s.templateSets = templateSet }
        s.seedsPerPrompt = seeds
        s.seed = seed
        s.steps = sampling.steps
        s.guidance = sampling.guidance
        s.scheduler = sampling.scheduler
        s.method = methods[0]
        s.variant = variant
        s.compose = compose
        // The default is recorded as no setting, as in the files written before the flag existed.
        s.decoupling = decouple == .wordings ? nil : decouple
        s.compositionOnly = compositionOnly ? true : nil
        var h = BenchmarkSettings.defaultHyperparameters
        if variant == .full { h.learningRate = ErasureHyperparameters.defaults(for: .full).learningRate }
        if let maxIterations { h.maxIterations = maxIterations }
        if let images { h.images = images }
        if let beta { h.beta = beta }
        if let lr { h.learningRate = lr }
        if let tau { h.tau = tau }
        if let tolerance { h.nullSpaceTolerance = tolerance }
        if nameOnly {
            s.conceptTemplates = []
        } else if !conceptTemplate.isEmpty {
            s.conceptTemplates = conceptTemplate
        } else {
            s.conceptTemplates = BenchmarkSettings.defaultConceptTemplates(for: s.method)
        }
        s.protectedPrompts += protect
        if let esdXLr {
            var e = s.esd ?? BenchmarkSettings.defaultESD
            e.learningRate = esdXLr
            s.esd = e
        }
        if let caLr {
            var c = s.ca ?? BenchmarkSettings.defaultCA
            c.learningRate = caLr
            s.ca = c
        }
        h.generationSteps = sampling.steps
        h.generationGuidance = Double(sampling.guidance)
        h.generationScheduler = sampling.scheduler
        s.hyperparameters = h
        if quick { s.makeQuick() }
        return s
    }

    /// The methods to benchmark (sepme when none is given).
    var methods: [ErasureMethodKind] { BenchmarkMethodChoice.methods(method) }

    func validate() throws {
        if nameOnly && !conceptTemplate.isEmpty {
            throw ValidationError("--name-only and --concept-template exclude each other")
        }
        // Without the model's tokenizer: every name must at least be a toy concept.
        _ = try ErasureFlags.mapping(Self.flags) {
            var s = settings { _ in true }
            if gridShapes.isEmpty { s.gridShapes = ToyConcepts.shapes }
            if gridStyles.isEmpty { s.gridStyles = ToyConcepts.styles }
            try s.validate()
        }
    }

    func run() throws {
        let started = Date()
        let out = URL(fileURLWithPath: output)
        let result = try CommandFailure.reporting {
            try ErasureFlags.mapping(Self.flags) {
                let modelPath = try modelOptions.path()
                let pipeline = try modelOptions.pipeline(quiet: verbosity.quiet)
                // A word the tokenizer encodes as one token (BOS, word, EOS) is one the model was trained on.
                let settings = settings { pipeline.tokenizer.tokenize($0).count == 3 }
                try settings.validate()
                let model = try ShiftSet(pipeline: pipeline)
                let classifier = try ToyClassifier.bundled()
                let configure = { (benchmark: ErasureBenchmark) in
                    benchmark.observer = ToyCommandSupport.erasureObserver(
                        label: "benchmark", maxIterations: settings.iterationBudget(for: benchmark.settings.method), quiet: verbosity.quiet)
                    benchmark.progress = ToyCommandSupport.EvaluationBars(quiet: verbosity.quiet).update
                }
                if methods.count > 1 {
                    let run = try BenchmarkComparison.run(
                        settings: settings, methods: methods, model: model, classifier: classifier, modelName: modelPath, output: out,
                        resume: resume, methodDefaults: !nameOnly && conceptTemplate.isEmpty, configure: configure)
                    return run.comparison.markdown()
                }
                let benchmark = try ErasureBenchmark(
                    settings: settings.forMethod(methods[0]), model: model, classifier: classifier, modelName: modelPath)
                configure(benchmark)
                return try benchmark.run(output: out, resume: resume).markdown()
            }
        }
        print(result)
        let written = methods.count > 1 ? "comparison.json, comparison.md and <method>/benchmark.json" : "benchmark.json and benchmark.md"
        print("wrote \(written) into \(out.path) " + String(format: "in %.1f min", Date().timeIntervalSince(started) / 60))
    }
}
