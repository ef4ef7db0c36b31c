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
        abstract: "On the embedded toy model: erase \"striped\" and \"red\" (separate variant, watermark protected), restore \"red\", evaluate the three states.")

    @Option(help: "Output folder (shift files under shifts/, report.json, report.md, grid.png).") var output: String = "demo-output"
    @Option(help: "Model: a diffusers folder (default: the embedded toy model).") var model: String?
    @Option(help: "Images (seeds) per prompt in the evaluation.") var seeds: Int = 16
    @Option(help: "Maximum unlearning iterations per concept.") var maxIterations: Int = 200
    @Option(help: "Training images generated per concept.") var images: Int = 8
    @Option(help: "Shift scale beta in dW = beta A S (default: the demo's).") var beta: Double?
    @Option(help: "Adam learning rate of the unlearning (default: the demo's).") var lr: Double?
    @Option(help: "Sampling steps (evaluation and training images).") var steps: Int = 20
    @Option(help: "Classifier-free guidance scale (evaluation and training images).") var guidance: Float = 4
    @Option(help: "Sampler of the evaluation and training images (default: the model folder's, DDPM for the embedded model).") var scheduler: SamplerKind?
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        _ = try ErasureFlags.mapping(ErasureFlags.demo) { try demo().plan() }
    }

    /// The demo these flags describe.
    func demo() -> ErasureDemo {
        var demo = ErasureDemo()
        demo.evaluation.imagesPerPrompt = seeds
        demo.evaluation.steps = steps
        demo.evaluation.guidance = guidance
        demo.evaluation.scheduler = scheduler
        demo.hyperparameters.generationScheduler = scheduler
        demo.hyperparameters.maxIterations = maxIterations
        demo.hyperparameters.images = images
        if let beta { demo.hyperparameters.beta = beta }
        if let lr { demo.hyperparameters.learningRate = lr }
        demo.hyperparameters.generationSteps = steps
        demo.hyperparameters.generationGuidance = Double(guidance)
        return demo
    }

    func run() throws {
        let started = Date()
        let out = URL(fileURLWithPath: output)
        let modelPath = try model ?? ToyCommandSupport.bundledModelPath()
        let shiftSet = try ShiftSet(pipeline: ModelLoading.pipeline(modelPath, quiet: quiet))
        let classifier = try ToyClassifier.bundled()
        let demo = demo()
        let observer = ToyCommandSupport.erasureObserver(label: "demo", maxIterations: demo.hyperparameters.maxIterations, quiet: quiet)
        let evalBars = ToyCommandSupport.EvaluationBars(quiet: quiet)
        let report = try ErasureFlags.mapping(ErasureFlags.demo) {
            try demo.run(model: shiftSet, classifier: classifier, modelName: modelPath,
                         output: out, observer: observer, evaluationProgress: evalBars.update)
        }
        print(report.summaryTable())
        print("wrote \(out.appendingPathComponent("report.json").path), report.md, grid.png and shifts/ "
              + String(format: "in %.1f min", Date().timeIntervalSince(started) / 60))
    }
}
