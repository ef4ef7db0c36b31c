import ArgumentParser
import TensorEngine

/// `--precision fp32|bf16`: the precision of gradient-free UNet work and, in `generate`, of the VAE
/// decoder (`PrecisionMode`). bf16 runs their linear layers, convolutions and attention as BF16 products
/// with fp32 sums (AMX or AVX-512 BF16 where the CPU has it and it pays, `BF16Payoff`); the text encoder
/// and the shifts stay fp32.
/// Provides: `--precision`.
struct PrecisionOption: ParsableArguments {
    @Option(
        help:
            "Precision of gradient-free products (the UNet's; in generate also the VAE decoder's): fp32, or bf16 (bf16 weights and activations, fp32 sums; products too small to repay the rounding stay fp32, and all of them on CPUs whose bf16 products are slower than fp32 ones)."
    )
    var precision: ComputePrecision = .fp32

    /// For benchmark headers: with `--precision bf16`, "; " and whether bf16 pays on this CPU.
    var verdictSuffix: String { precision == .bf16 ? "; \(BF16Payoff.verdict)" : "" }

    /// With `--precision bf16` on a CPU where bf16 products do not pay, says so on stderr (unless quiet):
    /// the run keeps fp32 products, so its results are fp32's.
    func noteWhereBF16DoesNotPay(quiet: Bool) {
        guard precision == .bf16, !quiet else { return }
        let verdict = BF16Payoff.verdict
        if !verdict.pays { StandardError.write("--precision bf16: \(verdict)\n") }
    }
}
