import Foundation
import TensorEngine

/// The forward-process schedule shared by every scheduler: betas, alphas, cumulative alpha products
/// (diffusers' `betas` / `alphas_cumprod`, computed in float32 the way torch does).
public struct NoiseSchedule: Sendable {
    public let betas: [Float]
    public let alphasCumprod: [Float]

    public init(_ config: SchedulerConfiguration) {
        let n = config.numTrainTimesteps
        var betas: [Float]
        if let trained = config.trainedBetas {
            betas = trained.map { Float($0) }
        } else {
            switch config.betaSchedule {
            case .scaledLinear:
                betas = NoiseSchedule.torchLinspace(Float(config.betaStart.squareRoot()), Float(config.betaEnd.squareRoot()), n).map { $0 * $0 }
            case .squaredCosCapV2:
                // betas_for_alpha_bar (cosine), max beta 0.999.
                func alphaBar(_ t: Double) -> Double {
                    let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
                    return c * c
                }
                betas = (0..<n).map { i in
                    let t1 = Double(i) / Double(n)
                    let t2 = Double(i + 1) / Double(n)
                    return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
                }
            case .linear:
                betas = NoiseSchedule.torchLinspace(Float(config.betaStart), Float(config.betaEnd), n)
            }
        }
        if config.rescaleBetasZeroSnr { betas = NoiseSchedule.rescaledToZeroTerminalSNR(betas: betas) }
        let cum = NoiseSchedule.cumulativeProduct(betas.map { 1 - $0 })
        self.betas = betas
        self.alphasCumprod = cum
    }

    /// torch.linspace in float32: the first half counts up from `start`, the second half down from `end`.
    static func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        guard steps > 1 else { return [start] }
        let step = (end - start) / Float(steps - 1)
        let half = steps / 2
        return (0..<steps).map { i in i < half ? start + step * Float(i) : end - step * Float(steps - 1 - i) }
    }

    /// torch.cumprod of float32 values on CPU: accumulated in double (acc_type), each entry rounded.
    static func cumulativeProduct(_ alphas: [Float]) -> [Float] {
        var acc: Double = 1
        return alphas.map {
            acc *= Double($0)
            return Float(acc)
        }
    }

    /// Lin et al. 2023, Algorithm 1 (diffusers `rescale_zero_terminal_snr`) on float32 betas, with
    /// torch's float32 arithmetic step by step: shift and scale sqrt(ᾱ) so ᾱ_T = 0, then revert the
    /// cumulative product to betas.
    static func rescaledToZeroTerminalSNR(betas: [Float]) -> [Float] {
        var root = cumulativeProduct(betas.map { 1 - $0 }).map { $0.squareRoot() }
        let first = root[0]
        let last = root[root.count - 1]
        let scale = first / (first - last)
        root = root.map { ($0 - last) * scale }
        let bar = root.map { $0 * $0 }
        var alphas = [bar[0]]
        for i in 1..<bar.count { alphas.append(bar[i] / bar[i - 1]) }
        return alphas.map { 1 - $0 }
    }

    /// x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε (diffusers `add_noise`), one timestep per batch item.
    // x0, noise: [B, ...]
    public func addNoise(_ x0: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        precondition(timesteps.count == x0.shape[0], "addNoise: \(timesteps.count) timesteps for batch \(x0.shape[0])")
        var a = [Float]()
        var b = [Float]()
        for t in timesteps {
            a.append(alphasCumprod[t].squareRoot())
            b.append((1 - alphasCumprod[t]).squareRoot())
        }
        let shape = [x0.shape[0]] + [Int](repeating: 1, count: x0.rank - 1)
        return x0 * Tensor(a, shape: shape) + noise * Tensor(b, shape: shape)
    }
}
