import ArgumentParser
import TensorEngine

/// `--precision fp32|bf16`: the precision of gradient-free UNet work (`PrecisionMode`). bf16 runs the
/// UNet's linear layers, convolutions and attention as BF16 products with fp32 sums (AVX-512 BF16 where
/// the CPU has it, else bf16 widened to fp32 with the same results); the text encoder, shifts and VAE
/// stay fp32.
/// Provides: `--precision`.
struct PrecisionOption: ParsableArguments {
    @Option(help: "Precision of the UNet's gradient-free products: fp32, or bf16 (bf16 weights and activations, fp32 sums).")
    var precision: ComputePrecision = .fp32
}
