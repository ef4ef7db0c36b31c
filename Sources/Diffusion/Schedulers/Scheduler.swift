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
        let a = alphaProd.squareRoot(), b = (1 - alphaProd).squareRoot()
        switch configuration.predictionType {
        case "v_prediction":
            return (sample * a - output * b, output * a + sample * b)
        case "sample":
            return (output, (sample - output * a) / b)
        default:
            return ((sample - output * b) / a, output)
        }
    }

    /// The timestep list for `steps` steps by `timestep_spacing` (diffusers set_timesteps).
    func spacedTimesteps(_ steps: Int) throws -> [Int] {
        let T = configuration.numTrainTimesteps
        guard steps >= 1 && steps <= T else { throw SchedulerError.invalidStepCount(requested: steps, trainTimesteps: T) }
        switch configuration.timestepSpacing {
        case "linspace":
            if steps == 1 { return [0] }
            return (0..<steps).map { i in Int((Double(T - 1) * Double(i) / Double(steps - 1)).rounded(.toNearestOrEven)) }.reversed()
        case "trailing":
            let ratio = Double(T) / Double(steps)
            var ts: [Int] = []
            var t = Double(T)
            while t > 0 { ts.append(Int(t.rounded(.toNearestOrEven)) - 1); t -= ratio }
            return Array(ts.prefix(steps))
        default:
            let ratio = T / steps
            return (0..<steps).map { $0 * ratio + configuration.stepsOffset }.reversed()
        }
    }
}

/// Resolves the scheduler of a model folder: "ddim"/"ddpm" by name, or the folder's own `_class_name`.
public func makeScheduler(named name: String?, config: SchedulerConfiguration, eta: Float = 0) throws -> Scheduler {
    let chosen = name ?? config.className ?? "DDIMScheduler"
    switch chosen.lowercased() {
    case "ddim", "ddimscheduler": return DDIMScheduler(config, eta: eta)
    case "ddpm", "ddpmscheduler": return DDPMScheduler(config)
    default:
        throw SchedulerError.unknownScheduler(chosen)
    }
}
