import TensorEngine

/// A sampler that walks a fixed list of timesteps; one `step` per UNet evaluation
/// (diffusers' SchedulerMixin: `set_timesteps`, `step`, `init_noise_sigma`, `scale_model_input`).
/// Steps are addressed by their index in `timesteps`, as diffusers' schedulers count them
/// internally (`step_index`): Karras sigmas can give two steps the same timestep.
public protocol Scheduler: AnyObject {
    var configuration: SchedulerConfiguration { get }
    var schedule: NoiseSchedule { get }
    /// The UNet's timestep input at each step of the current run, from noisiest to cleanest
    /// (training timesteps; fractional for Euler's linspace spacing and Karras sigmas).
    var timesteps: [Float] { get }
    /// Standard deviation of the initial noise (diffusers `init_noise_sigma`): 1 for the
    /// variance-preserving samplers, the largest sigma (or sqrt(σ_max² + 1)) for the Euler family.
    var initNoiseSigma: Float { get }
    /// Prepares `timesteps` for `steps` inference steps and resets the sampler's history.
    func setTimesteps(_ steps: Int) throws
    /// The UNet input for `sample` at step `stepIndex` (diffusers `scale_model_input`).
    // sample: [B, C, H, W] -> [B, C, H, W]
    func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor
    /// One reverse step: model output at step `stepIndex` for `sample` → the next (less noisy)
    /// sample. `generator` supplies the noise of stochastic steps (DDPM, DDIM with eta > 0, Euler
    /// ancestral), drawn as diffusers' `randn_tensor(model_output.shape, generator)`.
    func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor
}

/// Samplers on integer training timesteps with unit initial noise and an unscaled model input:
/// DDIM, DDPM, PNDM and DPM-Solver.
public protocol DiscreteTimestepScheduler: Scheduler {
    /// The training timesteps of the current run, from noisiest to cleanest.
    var discreteTimesteps: [Int] { get }
}

extension DiscreteTimestepScheduler {
    public var timesteps: [Float] { discreteTimesteps.map(Float.init) }
    public var initNoiseSigma: Float { 1 }
    // sample: [B, C, H, W] -> [B, C, H, W]
    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }
}

extension Scheduler {
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
}

extension SchedulerConfiguration {
    /// The timestep list for `steps` steps by `timestep_spacing` (diffusers set_timesteps).
    func spacedTimesteps(_ steps: Int) throws -> [Int] {
        let T = numTrainTimesteps
        let maximum = timestepSpacing == .leading ? maximumLeadingSteps() : T
        guard steps >= 1 && steps <= maximum else {
            throw SchedulerError.invalidStepCount(requested: steps, maximum: maximum, trainTimesteps: T)
        }
        switch timestepSpacing {
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
            return (0..<steps).map { $0 * ratio + stepsOffset }.reversed()
        }
    }
}
