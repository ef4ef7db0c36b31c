import Foundation
import NeuralNet
import TensorEngine

/// Sinusoidal timestep features (diffusers embeddings.py `get_timestep_embedding`), computed in
/// Float32 in the same order of operations as diffusers.
public enum SinusoidalTimestepFeatures {
    // timesteps: B values -> [B, dim]
    public static func make(
        _ timesteps: [Float], dim: Int, flipSinToCos: Bool, downscaleFreqShift: Float,
        scale: Float = 1, maxPeriod: Float = 10000
    ) -> Tensor {
        let half = dim / 2
        let logPeriod = -Float(Foundation.log(Double(maxPeriod)))
        let divisor = Float(half) - downscaleFreqShift
        let frequencies = (0..<half).map { Foundation.exp(logPeriod * Float($0) / divisor) }
        let out = Tensor(zeros: [timesteps.count, dim])
        for (b, t) in timesteps.enumerated() {
            let row = out.pointer + b * dim
            for i in 0..<half {
                let angle = scale * (t * frequencies[i])
                let (sinPart, cosPart) = flipSinToCos ? (half, 0) : (0, half)
                row[sinPart + i] = Foundation.sin(angle)
                row[cosPart + i] = Foundation.cos(angle)
            }
            // odd dim: the last column stays zero (diffusers pads).
        }
        return out
    }
}

/// diffusers embeddings.py `TimestepEmbedding`: linear_1 -> SiLU -> linear_2.
public final class TimestepEmbedding: Module {
    public let linear_1: Linear
    public let linear_2: Linear

    public init(inChannels: Int, timeEmbedDim: Int) {
        linear_1 = Linear(inChannels, timeEmbedDim)
        linear_2 = Linear(timeEmbedDim, timeEmbedDim)
    }

    // features: [B, inChannels] -> [B, timeEmbedDim]
    public func callAsFunction(_ features: Tensor) -> Tensor {
        linear_2(linear_1(features).silu())
    }
}
