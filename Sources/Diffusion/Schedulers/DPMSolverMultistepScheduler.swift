import Foundation
import TensorEngine

/// Multistep DPM-Solver++ (Lu et al. 2022b, "DPM-Solver++", Algorithm 2: data prediction, second
/// order from the previous step's x_0 estimate), following diffusers `scheduling_dpmsolver_multistep.py`
/// with `algorithm_type` dpmsolver++, `solver_order` 1 or 2, `solver_type` midpoint or heun. The
/// samplers A1111 and ComfyUI call "DPM++ 2M" and, with `use_karras_sigmas`, "DPM++ 2M Karras".
/// Timesteps are integers; the model input is not scaled and the initial noise is unit.
public final class DPMSolverMultistepScheduler: DiscreteTimestepScheduler {
    public let configuration: SchedulerConfiguration
    public let schedule: NoiseSchedule
    public private(set) var discreteTimesteps: [Int] = []
    /// Noise level σ = sqrt((1 − ᾱ) / ᾱ) of each step and the final one: `timesteps.count + 1` values.
    public private(set) var sigmas: [Float] = []
    /// The x_0 estimates of the last `solver_order` steps, oldest first.
    private var history: [Tensor] = []
    /// How many lower-order steps the run has taken so far (diffusers `lower_order_nums`).
    private var lowerOrderSteps = 0

    public init(_ configuration: SchedulerConfiguration) throws {
        let name = "DPMSolverMultistepScheduler"
        func refuse(_ reason: String) -> SchedulerError { .invalidConfig(name, reason) }
        try SigmaSchedule.checkTrainTimesteps(configuration, sampler: name)
        guard configuration.algorithmType == .dpmsolverPlusPlus else {
            throw refuse("algorithm_type \(configuration.algorithmType.rawValue) is not supported (dpmsolver++ is)")
        }
        guard (1...2).contains(configuration.solverOrder) else {
            throw refuse("solver_order \(configuration.solverOrder) is not supported (1 or 2)")
        }
        let ramps = [
            ("use_exponential_sigmas", configuration.useExponentialSigmas), ("use_beta_sigmas", configuration.useBetaSigmas),
            ("use_lu_lambdas", configuration.useLuLambdas), ("use_flow_sigmas", configuration.useFlowSigmas),
            ("use_dynamic_shifting", configuration.useDynamicShifting)
        ]
        if let (key, _) = ramps.first(where: { $0.1 }) { throw refuse("\(key) true is not supported") }
        if let clipped = configuration.lambdaMinClipped {
            throw refuse("lambda_min_clipped \(clipped) is not supported (only -Infinity, no clipping)")
        }
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
    }

    public func setTimesteps(_ steps: Int) throws {
        let training = SigmaSchedule.trainingSigmas(configuration, schedule: schedule)
        var timesteps = try dpmTimesteps(steps)
        var stepSigmas: [Double]
        if configuration.useKarrasSigmas {
            // The ramp spans the whole training range (diffusers passes the flipped training sigmas).
            stepSigmas = SigmaSchedule.karras(
                minimum: Double(training[0]), maximum: Double(training[training.count - 1]), steps: steps)
            let logSigmas = training.map { Foundation.log($0) }
            let fractional = stepSigmas.map { SigmaSchedule.timestep(ofSigma: $0, logSigmas: logSigmas) }
            // Rounded, except for the cosine schedule, whose timesteps the int64 cast truncates.
            timesteps = fractional.map {
                Int(configuration.betaSchedule == .squaredCosCapV2 ? $0.rounded(.towardZero) : SigmaSchedule.roundHalfEven($0))
            }
        } else {
            stepSigmas = timesteps.map { SigmaSchedule.interpolate(Double($0), training) }
        }
        let last: Float = configuration.finalSigmasType == .zero ? 0 : training[0]
        sigmas = stepSigmas.map { Float($0) } + [last]
        discreteTimesteps = timesteps
        history = []
        lowerOrderSteps = 0
    }

    /// diffusers' DPM-Solver timesteps (`lambda_min_clipped` −inf): linspace and leading spacing over
    /// steps + 1 points without the last, trailing as the common spacing.
    private func dpmTimesteps(_ steps: Int) throws -> [Int] {
        let T = configuration.numTrainTimesteps
        switch configuration.timestepSpacing {
        case .trailing:
            return try configuration.spacedTimesteps(steps)
        case .linspace:
            guard steps >= 1 && steps <= T else {
                throw SchedulerError.invalidStepCount(requested: steps, maximum: T, trainTimesteps: T)
            }
            // np.linspace(0, T − 1, steps + 1).round()[::-1][:-1]
            let step = Double(T - 1) / Double(steps)
            return (1...steps).map { i in i == steps ? T - 1 : Int(SigmaSchedule.roundHalfEven(Double(i) * step)) }.reversed()
        case .leading:
            // arange(steps + 1) · (T // (steps + 1)), reversed without the last, plus steps_offset.
            var maximum = T - 1
            while maximum > 1 && maximum * (T / (maximum + 1)) + configuration.stepsOffset >= T { maximum -= 1 }
            guard steps >= 1 && steps <= maximum else {
                throw SchedulerError.invalidStepCount(requested: steps, maximum: maximum, trainTimesteps: T)
            }
            let ratio = T / (steps + 1)
            return (1...steps).map { $0 * ratio + configuration.stepsOffset }.reversed()
        }
    }

    /// α_t = 1 / sqrt(σ² + 1) and σ_t = σ α_t of the variance-preserving process at noise level σ.
    private func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    /// λ = log α_t − log σ_t, the half log-SNR (Lu et al. 2022a, §3.1); +inf at σ = 0.
    private func lambda(_ p: (alpha: Float, sigma: Float)) -> Float { Foundation.log(p.alpha) - Foundation.log(p.sigma) }

    // modelOutput, sample: [B, C, H, W]
    public func step(modelOutput: Tensor, stepIndex i: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor {
        let n = discreteTimesteps.count
        let lowerOrderFinal =
            i == n - 1
            && (configuration.eulerAtFinal || (configuration.lowerOrderFinal && n < 15) || configuration.finalSigmasType == .zero)
        // The data prediction x_0 (diffusers `convert_model_output` for dpmsolver++).
        let current = alphaSigma(sigmas[i])
        let x0: Tensor
        switch configuration.predictionType {
        case .epsilon: x0 = (sample - modelOutput * current.sigma) / current.alpha
        case .sample: x0 = modelOutput
        case .vPrediction: x0 = sample * current.alpha - modelOutput * current.sigma
        }
        history = Array(history.suffix(configuration.solverOrder - 1)) + [x0]
        let next = alphaSigma(sigmas[i + 1])
        let h = lambda(next) - lambda(current)
        let decay = next.alpha * (Foundation.exp(-h) - 1)
        var result = sample * (next.sigma / current.sigma) - x0 * decay
        if !(configuration.solverOrder == 1 || lowerOrderSteps < 1 || lowerOrderFinal), history.count >= 2 {
            // Second order (Lu et al. 2022b, Algorithm 2): D1 = (x0 − x0_prev) / r, r = h_prev / h.
            let previous = alphaSigma(sigmas[i - 1])
            let r = (lambda(current) - lambda(previous)) / h
            let d1 = (x0 - history[history.count - 2]) * (1 / r)
            switch configuration.solverType {
            case .midpoint: result = result - d1 * (0.5 * decay)
            case .heun: result = result + d1 * (next.alpha * ((Foundation.exp(-h) - 1) / h + 1))
            }
        }
        if lowerOrderSteps < configuration.solverOrder { lowerOrderSteps += 1 }
        return result
    }
}
