import TensorEngine

/// The encoder's posterior q(z | x) = N(mean, diag(exp(logvar))), diffusers'
/// `DiagonalGaussianDistribution` (models/autoencoders/vae.py), log-variance clamped to [−30, 20].
public struct DiagonalGaussian {
    /// [B, latent, h, w]
    public let mean: Tensor
    /// [B, latent, h, w], clamped to [−30, 20]
    public let logvar: Tensor

    /// Splits the encoder output along channels into mean and (clamped) log-variance.
    // parameters: [B, 2·latent, h, w]
    public init(parameters: Tensor) {
        let halves = parameters.chunked(2, axis: 1)
        mean = halves[0]
        logvar = halves[1].clamp(min: -30, max: 20)
    }

    /// exp(logvar / 2)
    public var std: Tensor { (logvar * 0.5).exp() }

    /// exp(logvar)
    public var variance: Tensor { logvar.exp() }

    /// mean + std · ε with ε = torch.randn(mean.shape, generator=generator): one draw for the whole
    /// batch, consuming the generator like diffusers' `randn_tensor` on CPU.
    public func sample(generator: inout PyTorchGenerator) -> Tensor {
        let noise = Tensor.randn(mean.shape, generator: &generator)
        return mean + std * noise
    }

    /// The mode of the distribution (its mean).
    public func mode() -> Tensor { mean }
}
