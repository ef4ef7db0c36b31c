import TensorEngine

/// A sampler that walks a fixed list of timesteps; one `step` per UNet evaluation
/// (diffusers' SchedulerMixin: `set_timesteps`, `step`, `init_noise_sigma`, `scale_model_input`).
public protocol Scheduler: AnyObject {
    var configuration: SchedulerConfiguration { get }
    var schedule: NoiseSchedule { get }
    /// Timesteps of the current sampling run, from noisiest to cleanest.
    var timesteps: [Int] { get }
    /// Prepares `timesteps` for `steps` inference steps.
    func setTimesteps(_ steps: Int) throws
    /// One reverse step: model output at `timestep` for `sample` → the previous (less noisy) sample.
    /// `generator` supplies the noise of stochastic steps (DDPM, DDIM with eta > 0).
    func step(modelOutput: Tensor, timestep: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor
}

extension Scheduler {
    public var initNoiseSigma: Float { 1 }

    /// Predicted x_0 and ε from the model output, by `prediction_type`.
    func predictOriginal(_ output: Tensor, sample: Tensor, alphaProd: Float) -> (x0: Tensor, eps: Tensor) {
        let a = alphaProd.squareRoot()
        let b = (1 - alphaProd).squareRoot()
        switch configuration.predictionType {
        case .vPrediction:
            return (sample * a - output * b, output * a + sample * b)
        case .sample:
            return (output, (sample - output * a) / b)
        case .epsilon:
            return ((sample - output * b) / a, output)
        }
    }

    /// The timestep list for `steps` steps by `timestep_spacing` (diffusers set_timesteps).
    func spacedTimesteps(_ steps: Int) throws -> [Int] {
        let T = configuration.numTrainTimesteps
        let maximum = configuration.timestepSpacing == .leading ? configuration.maximumLeadingSteps() : T
        guard steps >= 1 && steps <= maximum else {
            throw SchedulerError.invalidStepCount(requested: steps, maximum: maximum, trainTimesteps: T)
        }
        switch configuration.timestepSpacing {
        case .linspace:
            // np.linspace(0, T - 1, steps).round()[::-1]: i · step with the last value exactly T − 1.
            if steps == 1 { return [0] }
            let step = Double(T - 1) / Double(steps - 1)
            let values = (0..<steps).map { i in i == steps - 1 ? Double(T - 1) : Double(i) * step }
            return values.map { Int($0.rounded(.toNearestOrEven)) }.reversed()
        case .trailing:
            // np.round(np.arange(T, 0, -T / steps)) − 1, with numpy's arange arithmetic: length
            // ceil(−T / step), values start + i · delta where delta = (start + step) − start.
            let start = Double(T)
            let step = -Double(T) / Double(steps)
            let length = Int((-start / step).rounded(.up))
            let delta = (start + step) - start
            return (0..<length).map { i in
                let value = i == 0 ? start : (i == 1 ? start + step : start + Double(i) * delta)
                return Int(value.rounded(.toNearestOrEven)) - 1
            }
        case .leading:
            let ratio = T / steps
            return (0..<steps).map { $0 * ratio + configuration.stepsOffset }.reversed()
        }
    }
}
