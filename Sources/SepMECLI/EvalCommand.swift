import ArgumentParser
import ConceptErasure
import Diffusion
import ErasureEvaluation
import Foundation
import Toy

/// `sepme eval`: erasure efficacy and preservation numbers for shifts on the toy testbed.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate shifts: classifier accuracy, pixel difference, SSIM, Fréchet distance and 8-bit identity per prompt and state.",
        discussion:
            "States: original (no shifts), erased (--shift and --restore files applied), restored (--restore files removed again). With --baked, the prompts the --shift files should leave alone are generated again with those shifts added to the weights (as `sepme apply` writes them) and compared in 8 bits with the original and the adapter path."
    )

    @OptionGroup var modelOptions: ToyModelOptions
    @Option(help: "A shift that stays applied (repeatable).") var shift: [String] = []
    @Option(help: "A shift that is erased and then restored, i.e. removed again (repeatable).") var restore: [String] = []
    @Option(parsing: .upToNextOption, help: "Prompts to evaluate; each must name a toy shape, colour or style, or be the watermark prompt or \"\".")
    var concepts: [String] = []
    @Option(help: "Images (seeds) per prompt.") var seeds: Int = 32
    @Option(help: "Seed of the first image (diffusers: one generator for a prompt's whole batch).") var seed: UInt64 = 0
    @OptionGroup var sampling: SamplingOptions<ToySamplingDefaults>
    @Option(help: "Classifier file (default: the bundled toy classifier).") var classifier: String?
    @Option(help: "Output folder for report.json, report.md and grid.png.") var output: String = "eval-report"
    @Flag(help: "Apply shifts made for another base model.") var force = false
    @Flag(help: "Also compare the --shift files baked into the weights (report section 'baked').") var baked = false
    @OptionGroup var verbosity: QuietOption

    func validate() throws {
        guard !concepts.isEmpty else { throw ValidationError("--concepts: give at least one prompt to evaluate") }
        try ErasureFlags.mapping(ErasureFlags.eval) { try settings().validate() }
        for c in concepts { do { _ = try EvaluationPrompt(c) } catch { throw ValidationError("--concepts: \(error)") } }
    }

    /// The evaluation settings these flags describe.
    func settings() -> ConceptEvaluator.Settings {
        var settings = ConceptEvaluator.Settings()
        settings.imagesPerPrompt = seeds
        settings.seed = seed
        settings.steps = sampling.steps
        settings.guidance = sampling.guidance
        settings.scheduler = sampling.scheduler
        settings.force = force
        settings.compareBaked = baked
        return settings
    }

    func run() throws {
        let out = URL(fileURLWithPath: output)
        let report = try CommandFailure.reporting(FlagNames(steps: "--steps")) {
            try ErasureFlags.mapping(ErasureFlags.eval) {
                let shifts = try shift.map { try ConceptShift.read(path: $0) }
                let restored = try restore.map { try ConceptShift.read(path: $0) }
                let modelPath = try modelOptions.path()
                let model = try ShiftSet(pipeline: modelOptions.pipeline(quiet: verbosity.quiet))
                // Refuse shifts of another base model, of other shapes, or given twice, before any image is generated.
                try model.check(shifts + restored, force: force)
                let scorer = try classifier.map { try ToyClassifier.load(path: $0) } ?? ToyClassifier.bundled()
                try ConceptEvaluator.prepareOutput(out)
                let evaluator = try ConceptEvaluator(model: model, classifier: scorer, settings: settings(), modelName: modelPath)
                let bars = ToyCommandSupport.EvaluationBars(quiet: verbosity.quiet)
                evaluator.progress = bars.update
                Interrupt.install()
                evaluator.shouldStop = { Interrupt.requested }
                let (report, images) = try evaluator.evaluate(prompts: concepts, shifts: shifts, restore: restored)
                try ConceptEvaluator.write(report, images: images, to: out)
                return report
            }
        }
        print(report.markdown(grid: out.appendingPathComponent("grid.png").path))
    }
}
