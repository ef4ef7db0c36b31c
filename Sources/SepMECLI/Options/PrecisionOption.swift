import ArgumentParser
import TensorEngine

/// `--precision fp32|bf16`: the precision of gradient-free UNet work and, in `generate`, of the VAE
/// decoder (`PrecisionMode`). bf16 runs their linear layers, convolutions and attention as BF16 products
/// with fp32 sums (AVX-512 BF16 where the CPU has it, else bf16 widened to fp32 with the same results);
/// the text encoder and the shifts stay fp32.
/// Provides: `--precision`.
struct PrecisionOption: ParsableArguments {
    @Option(
        help:
            "Precision of gradient-free products (the UNet's; in generate also the VAE decoder's): fp32, or bf16 (bf16 weights and activations, fp32 sums; products too small to repay the rounding stay fp32)."
    )
    var precision: ComputePrecision = .fp32
}
