import Foundation
import TensorEngine

/// The noise levels σ = sqrt((1 − ᾱ) / ᾱ) of the sigma-based samplers (Karras et al. 2022, §2:
/// x_σ = x_0 + σ ε is the variance-preserving x_t scaled by sqrt(1 + σ²)), with the numerics of
/// diffusers' `scheduling_euler_discrete.py` and `scheduling_dpmsolver_multistep.py`: training sigmas
/// in float32 (torch), interpolation and the Karras ramp in float64 (numpy), the results rounded to
/// float32.
enum SigmaSchedule {
    /// Training sigmas for timesteps 0..<T in float32. With zero-terminal-SNR rescaling the last ᾱ is
    /// 0; diffusers replaces it by 2⁻²⁴ so that the largest sigma stays finite (4096).
    static func trainingSigmas(_ config: SchedulerConfiguration, schedule: NoiseSchedule) -> [Float] {
        var alphasCumprod = schedule.alphasCumprod
        if config.rescaleBetasZeroSnr, !alphasCumprod.isEmpty {
            alphasCumprod[alphasCumprod.count - 1] = Float(1.0 / 16_777_216)
        }
        return alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
    }

    /// numpy `interp(x, arange(n), values)` in float64: linear between neighbouring training
    /// timesteps, the end values outside.
    static func interpolate(_ x: Double, _ values: [Float]) -> Double {
        let last = values.count - 1
        guard x > 0 else { return Double(values[0]) }
        guard x < Double(last) else { return Double(values[last]) }
        let j = Int(x.rounded(.down))
        if Double(j) == x { return Double(values[j]) }
        let slope = Double(values[j + 1]) - Double(values[j])  // the timesteps are 1 apart
        return slope * (x - Double(j)) + Double(values[j])
    }

    /// The Karras et al. 2022 (eq. 5, ρ = 7) noise levels from `maximum` down to `minimum` in `steps`
    /// steps (diffusers `_convert_to_karras`, float64).
    static func karras(minimum: Double, maximum: Double, steps: Int) -> [Double] {
        let rho = 7.0
        let minInverse = Foundation.pow(minimum, 1 / rho)
        let maxInverse = Foundation.pow(maximum, 1 / rho)
        return (0..<steps).map { i in
            // np.linspace(0, 1, steps): i · (1 / (steps − 1)), the last exactly 1.
            let ramp = steps == 1 ? 0 : (i == steps - 1 ? 1 : Double(i) * (1 / Double(steps - 1)))
            return Foundation.pow(maxInverse + ramp * (minInverse - maxInverse), rho)
        }
    }

    /// The (fractional) training timestep of `sigma`: linear interpolation in log σ between the two
    /// training timesteps around it (diffusers `_sigma_to_t`; `logSigmas` are float32 logarithms of
    /// the training sigmas, increasing with t).
    static func timestep(ofSigma sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = Foundation.log(max(sigma, 1e-10))
        // The last index whose log σ is at most `logSigma` (0 when there is none), at most count − 2.
        var low = 0
        for (i, value) in logSigmas.enumerated() where logSigma - Double(value) >= 0 { low = i }
        low = min(low, logSigmas.count - 2)
        let lowValue = logSigmas[low]
        let highValue = logSigmas[low + 1]
        // (low − high) is a float32 difference in numpy; the rest is float64.
        var w = (Double(lowValue) - logSigma) / Double(lowValue - highValue)
        w = min(max(w, 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }

    /// numpy's `round` (half to even).
    static func roundHalfEven(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }
}

extension SigmaSchedule {
    /// The Euler samplers' run (diffusers `EulerDiscreteScheduler.set_timesteps`): float32 timesteps
    /// by `timestep_spacing` (linspace ones fractional), the training sigmas interpolated at them, or
    /// with `karras` a Karras ramp between the interpolated ends (or `sigma_min` / `sigma_max`) with
    /// the timesteps read back from log σ; then the final sigma. `sigmas` has one more entry than
    /// `timesteps`.
    static func eulerRun(
        _ config: SchedulerConfiguration, schedule: NoiseSchedule, steps: Int, karras: Bool, finalSigma: FinalSigmasType
    ) throws -> (timesteps: [Float], sigmas: [Float]) {
        let training = trainingSigmas(config, schedule: schedule)
        var timesteps = try floatSpacedTimesteps(config, steps: steps)
        var sigmas = timesteps.map { interpolate(Double($0), training) }
        if karras {
            let logSigmas = training.map { Foundation.log($0) }
            sigmas = SigmaSchedule.karras(
                minimum: config.sigmaMin ?? sigmas[sigmas.count - 1], maximum: config.sigmaMax ?? sigmas[0], steps: steps)
            timesteps = sigmas.map { Float(timestep(ofSigma: $0, logSigmas: logSigmas)) }
        }
        let last: Float = finalSigma == .zero ? 0 : training[0]
        return (timesteps, sigmas.map { Float($0) } + [last])
    }

    /// diffusers' Euler timesteps in float32: linspace ones are `np.linspace(0, T − 1, steps)`
    /// reversed (not rounded); leading and trailing ones the common integer spacing.
    static func floatSpacedTimesteps(_ config: SchedulerConfiguration, steps: Int) throws -> [Float] {
        let T = config.numTrainTimesteps
        guard config.timestepSpacing == .linspace else {
            return try config.spacedTimesteps(steps).map(Float.init)
        }
        guard steps >= 1 && steps <= T else {
            throw SchedulerError.invalidStepCount(requested: steps, maximum: T, trainTimesteps: T)
        }
        if steps == 1 { return [0] }
        let step = Double(T - 1) / Double(steps - 1)
        return (0..<steps).map { i in i == steps - 1 ? Float(T - 1) : Float(Double(i) * step) }.reversed()
    }

    /// diffusers' `init_noise_sigma` of the Euler samplers: the largest sigma for linspace and
    /// trailing spacing, sqrt(σ_max² + 1) for leading (float32).
    static func eulerInitNoiseSigma(_ sigmas: [Float], spacing: TimestepSpacing) -> Float {
        let largest = sigmas.max() ?? 1
        return spacing == .leading ? (largest * largest + 1).squareRoot() : largest
    }

    /// The sigma samplers need at least two training timesteps (σ is read between neighbours).
    static func checkTrainTimesteps(_ config: SchedulerConfiguration, sampler: String) throws {
        guard config.numTrainTimesteps >= 2 else {
            throw SchedulerError.invalidConfig(
                sampler, "num_train_timesteps \(config.numTrainTimesteps) is too small for this sampler (at least 2)")
        }
    }

    /// x / sqrt(σ² + 1): the model input of the sigma-based samplers (diffusers' `scale_model_input`).
    // sample: [B, C, H, W] -> [B, C, H, W]
    static func scaledModelInput(_ sample: Tensor, sigma: Float) -> Tensor {
        sample / (sigma * sigma + 1).squareRoot()
    }

    /// The predicted x_0 at σ (the denoised estimate D(x; σ) of Karras et al.; diffusers'
    /// `pred_original_sample`) for each prediction type.
    // modelOutput, sample: [B, C, H, W] -> [B, C, H, W]
    static func denoised(modelOutput: Tensor, sample: Tensor, sigma: Float, prediction: PredictionType) -> Tensor {
        switch prediction {
        case .epsilon: return sample - modelOutput * sigma
        case .vPrediction: return modelOutput * (-sigma / (sigma * sigma + 1).squareRoot()) + sample / (sigma * sigma + 1)
        case .sample: return modelOutput
        }
    }
}
