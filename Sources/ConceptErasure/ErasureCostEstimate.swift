import Diffusion
import Foundation
import TensorEngine

/// What one index of a plan needs on this machine, measured rather than guessed (`sepme cluster`):
/// the time of one denoising step of a training image and of one training iteration of the plan's
/// first concept (the same work as `bench erase-step`'s sepme column, on the plan's own model), the
/// process's peak memory after both, and from these a time limit and a memory request per task.
public struct ErasureCostEstimate: Codable, Equatable, Sendable {
    /// Seconds of one guided denoising step of a training image.
    public var secondsPerGenerationStep: Double
    /// Seconds of one training iteration (forward, backward, Adam step).
    public var secondsPerIteration: Double
    /// Denoising steps and iterations one index runs at most.
    public var generationSteps: Int
    public var iterations: Int
    /// The process's peak resident memory after the measurement (model loaded, one iteration run).
    public var peakResidentBytes: Int
    /// The threads the measurement ran on (the cores this process may use).
    public var measuredThreads: Int

    /// The measured work of one index with a margin: twice the measured time plus ten minutes (model
    /// loading, the image cache's first writes, a slower node), at `threads` cores instead of the
    /// measured ones (scaled linearly).
    public func timeLimitSeconds(threads: Int) -> Double {
        let work = Double(generationSteps) * secondsPerGenerationStep + Double(iterations) * secondsPerIteration
        let scale = Double(measuredThreads) / Double(max(1, threads))
        return 2 * work * max(1, scale) + 600
    }

    /// The peak memory with half again as margin, in whole GiB, at least 2.
    public var memoryGiB: Int {
        let gib = Double(peakResidentBytes) * 1.5 / Double(1 << 30)
        return max(2, Int(gib.rounded(.up)))
    }

    /// Measures on `model` with `plan`'s settings (its first concept, two repeats, the faster kept).
    public static func measure(plan: ErasurePlan, model: ShiftSet) throws -> ErasureCostEstimate {
        let h = plan.hyperparameters
        let concept = plan.concepts[0]
        let pipeline = model.pipeline
        model.freezeBaseWeights()
        // Generation: one step of a guided training-image sampling run, after a warm-up step.
        let run = try pipeline.makeRun(
            h.generation(prompt: concept, seed: h.seed, steps: max(4, h.generationSteps), scheduler: h.generationScheduler))
        _ = run.step()
        let generation = WallClock.fastest(of: 2) { _ = run.step() }
        // Training: SepME's iteration on the concept's decoupling (or a dense shift for the baselines).
        let cond = pipeline.conditioning(prompts: [concept])
        let blank = pipeline.unconditionalConditioning(count: 1)
        let decoupling =
            plan.method == .sepme && plan.variant.isDecoupled
            ? try SepMEMethod.decouple(plan: plan, concepts: [0], model: model)[0] : nil
        let weights = ShiftWeights.trainable(
            projections: model.projections.keyValueProjections, basis: decoupling?.basis, beta: Float(h.beta))
        let optimizer = Adam(parameters: weights.trainableTensors, learningRate: Float(h.learningRate))
        let objective = SepMEObjective(model: model, variant: decoupling == nil ? .full : .separate, lambda: h.lambda)
        var g = PyTorchGenerator(seed: h.seed)
        let x0 = run.latents
        let xt = Tensor.randn(x0.shape, generator: &g)
        let iteration = model.withTrainingWeights([weights]) {
            WallClock.fastest(of: 2) {
                let loss = objective(xt: xt, timestep: 500, conds: cond, blank: blank, weights: [weights]).loss
                loss.backward()
                optimizer.update()
                optimizer.zeroGrad()
            }
        }
        let (steps, iterations) = budget(plan: plan)
        return ErasureCostEstimate(
            secondsPerGenerationStep: generation, secondsPerIteration: iteration, generationSteps: steps, iterations: iterations,
            peakResidentBytes: MemoryStatistics.processPeakResidentBytes() ?? MemoryStatistics.shared.peakBytes,
            measuredThreads: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Denoising steps and iterations of one index: its training images' sampling and its iteration
    /// budget (ESD-x also partially denoises before each iteration, half the steps on average).
    static func budget(plan: ErasurePlan) -> (steps: Int, iterations: Int) {
        let h = plan.hyperparameters
        switch plan.method {
        case .sepme: return (plan.imagesFolder == nil ? h.images * h.generationSteps : 0, h.maxIterations)
        case .uce: return (0, 0)
        case .esdX:
            let iterations = plan.esd?.iterations ?? ESDOptions().iterations
            return (iterations * (h.generationSteps + 1) / 2, iterations)
        case .ca: return ((plan.ca?.images ?? 0) * h.generationSteps, plan.ca?.iterations ?? 0)
        }
    }
}
