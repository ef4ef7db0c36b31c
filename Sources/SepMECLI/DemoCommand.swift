import ArgumentParser
import ConceptErasure
import Diffusion
import ErasureEvaluation
import Foundation
import Toy

/// `sepme demo`: erase a style and a colour from the embedded model, restore the colour, evaluate.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "On the embedded toy model: erase \"striped\" and \"red\" (separate variant, watermark protected), restore \"red\", evaluate the three states."
    )

    @Option(help: "Output folder (shift files under shifts/, report.json, report.md, grid.png).") var output: String = "demo-output"
    @OptionGroup var modelOptions: ToyModelOptions
    @Option(help: "Images (seeds) per prompt in the evaluation.") var seeds: Int = 16
    @Option(help: "Maximum unlearning iterations per concept.") var maxIterations: Int = 200
    @Option(help: "Training images generated per concept (default: the demo's).") var images: Int?
    @Option(help: "Shift scale beta in dW = beta A S (default: the demo's).") var beta: Double?
    @Option(help: "Adam learning rate of the unlearning (default: the demo's).") var lr: Double?
    /// `--steps`, `--guidance`, `--scheduler`: the evaluation's and the training images' sampling.
    @OptionGroup var sampling: SamplingOptions<ToySamplingDefaults>
    @OptionGroup var verbosity: QuietOption

    func validate() throws {
        _ = try ErasureFlags.mapping(ErasureFlags.demo) { try demo().plan() }
    }

    /// The demo these flags describe.
    func demo() -> ErasureDemo {
        var demo = ErasureDemo()
        demo.evaluation.imagesPerPrompt = seeds
        demo.evaluation.steps = sampling.steps
        demo.evaluation.guidance = sampling.guidance
        demo.evaluation.scheduler = sampling.scheduler
        demo.hyperparameters.generationScheduler = sampling.scheduler
        demo.hyperparameters.maxIterations = maxIterations
        if let images { demo.hyperparameters.images = images }
        if let beta { demo.hyperparameters.beta = beta }
        if let lr { demo.hyperparameters.learningRate = lr }
        demo.hyperparameters.generationSteps = sampling.steps
        demo.hyperparameters.generationGuidance = Double(sampling.guidance)
        return demo
    }

    func run() throws {
        let started = Date()
        let out = URL(fileURLWithPath: output)
        let report = try CommandFailure.reporting {
            try ErasureFlags.mapping(ErasureFlags.demo) {
                let modelPath = try modelOptions.path()
                let shiftSet = try ShiftSet(pipeline: modelOptions.pipeline(quiet: verbosity.quiet))
                let classifier = try ToyClassifier.bundled()
                let demo = demo()
                let observer = ToyCommandSupport.erasureObserver(
                    label: "demo", maxIterations: demo.hyperparameters.maxIterations,
                    quiet: verbosity.quiet)
                let evalBars = ToyCommandSupport.EvaluationBars(quiet: verbosity.quiet)
                return try demo.run(
                    model: shiftSet, classifier: classifier, modelName: modelPath,
                    output: out, observer: observer, evaluationProgress: evalBars.update)
            }
        }
        print(report.summaryTable())
        if let baked = report.baked { print(baked.summaryLine(imagesPerPrompt: report.settings.imagesPerPrompt)) }
        print(
            "wrote \(out.appendingPathComponent("report.json").path), report.md, grid.png and shifts/ "
                + String(format: "in %.1f min", Date().timeIntervalSince(started) / 60))
    }
}
