import TensorEngine

/// PNDM in its PLMS form (Liu et al. 2022, eq. 12: linear multistep on ε), the scheduler of Stable
/// Diffusion v1 folders, following diffusers `scheduling_pndm.py` with `skip_prk_steps` (the PRK
/// warm-up is not implemented and refused). Timesteps: the leading spacing with the second-to-last
/// step repeated, so n steps take n + 1 model evaluations, as in diffusers.
public final class PNDMScheduler: DiscreteTimestepScheduler {
    public let configuration: SchedulerConfiguration
    public let schedule: NoiseSchedule
    public private(set) var discreteTimesteps: [Int] = []
    private let finalAlphaCumprod: Float
    private var stepRatio = 0
    /// The last up-to-four ε predictions, the PLMS history.
    private var history: [Tensor] = []
    private var counter = 0
    private var firstSample: Tensor?

    public init(_ configuration: SchedulerConfiguration) throws {
        guard configuration.skipPrkSteps else {
            throw SchedulerError.invalidConfig(
                "PNDMScheduler", "skip_prk_steps false (Runge-Kutta warm-up steps) is not supported; Stable Diffusion folders set it to true")
        }
        // diffusers' `_get_prev_sample` takes ε or v only and raises for any other prediction type.
        guard configuration.predictionType != .sample else {
            throw SchedulerError.invalidConfig(
                "PNDMScheduler", "prediction_type sample is not supported by PNDM (as in diffusers); use epsilon or v_prediction, or another sampler")
        }
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
        finalAlphaCumprod = configuration.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
    }

    public func setTimesteps(_ steps: Int) throws {
        let T = configuration.numTrainTimesteps
        let maximum = configuration.maximumLeadingSteps()
        guard steps >= 1 && steps <= maximum else {
            throw SchedulerError.invalidStepCount(requested: steps, maximum: maximum, trainTimesteps: T)
        }
        stepRatio = T / steps
        let base = (0..<steps).map { $0 * stepRatio + configuration.stepsOffset }
        // concat(base[:-1], base[-2:-1], base[-1:]) reversed
        var plms = Array(base.dropLast())
        if steps >= 2 { plms.append(base[steps - 2]) }
        plms.append(base[steps - 1])
        discreteTimesteps = plms.reversed()
        history = []
        counter = 0
        firstSample = nil
    }

    // modelOutput, sample: [B, C, H, W]
    public func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor {
        let t = discreteTimesteps[stepIndex]
        var timestep = t
        var prev = t - stepRatio
        if counter != 1 {
            history = Array(history.suffix(3))
            history.append(modelOutput)
        } else {
            prev = t
            timestep = t + stepRatio
        }
        var eps = modelOutput
        var x = sample
        switch (history.count, counter) {
        case (1, 0):
            firstSample = sample
        case (1, 1):
            eps = (modelOutput + history[0]) * 0.5
            x = firstSample ?? sample
            firstSample = nil
        case (2, _):
            eps = (history[1] * 3 - history[0]) * 0.5
        case (3, _):
            eps = (history[2] * 23 - history[1] * 16 + history[0] * 5) * (1 / 12)
        default:
            eps = (history[3] * 55 - history[2] * 59 + history[1] * 37 - history[0] * 9) * (1 / 24)
        }
        counter += 1
        return previousSample(x, timestep: timestep, prev: prev, output: eps)
    }

    /// x_{t−δ} from x_t and ε (the PNDM transfer, diffusers `_get_prev_sample`).
    private func previousSample(_ sample: Tensor, timestep: Int, prev: Int, output: Tensor) -> Tensor {
        let a = schedule.alphasCumprod[timestep]
        let aPrev = prev >= 0 ? schedule.alphasCumprod[prev] : finalAlphaCumprod
        let b = 1 - a
        let bPrev = 1 - aPrev
        var eps = output
        if configuration.predictionType == .vPrediction { eps = output * a.squareRoot() + sample * b.squareRoot() }
        let sampleCoeff = (aPrev / a).squareRoot()
        let denominator = a * bPrev.squareRoot() + (a * b * aPrev).squareRoot()
        return sample * sampleCoeff - eps * ((aPrev - a) / denominator)
    }
}
