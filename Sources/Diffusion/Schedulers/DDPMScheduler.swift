import Foundation
import TensorEngine

/// DDPM ancestral sampling (Ho et al. 2020, eq. 6-7), following diffusers `scheduling_ddpm.py`.
public final class DDPMScheduler: DiscreteTimestepScheduler {
    public let configuration: SchedulerConfiguration
    public let schedule: NoiseSchedule
    public private(set) var discreteTimesteps: [Int] = []

    public init(_ configuration: SchedulerConfiguration) {
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
    }

    public func setTimesteps(_ steps: Int) throws {
        discreteTimesteps = try configuration.spacedTimesteps(steps)
    }

    // modelOutput, sample: [B, C, H, W]
    public func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, generator: inout PyTorchGenerator) -> Tensor {
        // The next timestep of the list, −1 after the last (diffusers `previous_timestep`: for
        // trailing / linspace spacing the gap is not T / steps).
        let t = discreteTimesteps[stepIndex]
        let prev = stepIndex + 1 < discreteTimesteps.count ? discreteTimesteps[stepIndex + 1] : -1
        // 1. alphas and betas
        let alphaProd = schedule.alphasCumprod[t]
        let alphaProdPrev = prev >= 0 ? schedule.alphasCumprod[prev] : 1
        let betaProd = 1 - alphaProd
        let betaProdPrev = 1 - alphaProdPrev
        let currentAlpha = alphaProd / alphaProdPrev
        let currentBeta = 1 - currentAlpha
        // 2. predicted x_0 (eq. 15), 3. clipped
        var (x0, _) = predictOriginal(modelOutput, sample: sample, alphaProd: alphaProd)
        if configuration.clipSample ?? true {
            let r = Float(configuration.clipSampleRange)
            x0 = x0.clamp(min: -r, max: r)
        }
        // 4-5. posterior mean μ̃_t (eq. 7)
        let x0Coeff = alphaProdPrev.squareRoot() * currentBeta / betaProd
        let sampleCoeff = currentAlpha.squareRoot() * betaProdPrev / betaProd
        var prevSample = x0 * x0Coeff + sample * sampleCoeff
        // 6. noise
        if t > 0 {
            let noise = Tensor.randn(modelOutput.shape, generator: &generator)
            let variance = max(betaProdPrev / betaProd * currentBeta, 1e-20)
            let sigma: Float
            switch configuration.varianceType ?? .fixedSmall {
            case .fixedSmallLog: sigma = Foundation.exp(0.5 * Foundation.log(variance))
            case .fixedLarge: sigma = currentBeta.squareRoot()
            case .fixedSmall: sigma = variance.squareRoot()
            }
            prevSample = prevSample + noise * sigma
        }
        return prevSample
    }
}
