import Foundation

/// Which of PyTorch's two vectorised `randn` kernels to reproduce for float32 tensors with 16 or
/// more elements (aten/src/ATen/native/cpu/DistributionTemplates.h, `normal_kernel`).
///
/// PyTorch picks by the CPU capability its kernels were dispatched for
/// (`torch.backends.cpu.get_cpu_capability()`, overridable with `ATEN_CPU_CAPABILITY`):
/// `"AVX2"` runs `normal_fill_AVX2` (Cephes polynomials from avx_mathfun.h), while `"DEFAULT"` and
/// `"AVX512"` run the scalar `normal_fill` (the C library's `logf`, `cosf`, `sinf`). The two differ in
/// the last bit of some values. Both draw the same uniforms, so the generator state after a call is
/// the same either way.
public enum NormalFillKernel: String, Sendable, CaseIterable {
    /// `normal_fill` / `normal_fill_16`: float Box-Muller through libm. Bit-exact where this
    /// process's libm is the one PyTorch linked (glibc on Linux).
    case scalar
    /// `normal_fill_AVX2` / `normal_fill_16_AVX2`: float Box-Muller through the Cephes polynomials,
    /// pure arithmetic, so bit-exact on any platform.
    case avx2

    /// The FMA contractions GCC applied when building PyTorch's AVX2 kernel: all of them
    /// (see `CephesFloatMath`; pinned by RandomTests).
    static let avx2Contraction = CephesFloatMath.FusedSteps.all

    /// Turns 16 uniforms in [0, 1) at `data` into 16 standard normals in place: lanes 0..<8 supply
    /// `u1` and receive `r cos(theta)`, lanes 8..<16 supply `u2` and receive `r sin(theta)`.
    // data: [16]
    func transform16(
        _ data: UnsafeMutablePointer<Float>,
        contraction: CephesFloatMath.FusedSteps = NormalFillKernel.avx2Contraction
    ) {
        switch self {
        case .scalar:
            for j in 0..<8 {
                let u1: Float = 1 - data[j]  // [0, 1) -> (0, 1] for log
                let u2 = data[j + 8]
                let radius = (-2 * Foundation.log(u1)).squareRoot()
                // `2.0f * c10::pi<double> * u2` is evaluated in double, then stored as float.
                let theta = Float(2.0 * Double.pi * Double(u2))
                // `radius * cos(theta) * std + mean` with std = 1, mean = 0 (so -0 becomes +0).
                data[j] = radius * Foundation.cos(theta) + 0
                data[j + 8] = radius * Foundation.sin(theta) + 0
            }
        case .avx2:
            let twoPi = Float(2.0 * Double.pi)
            let fuse = contraction
            for j in 0..<8 {
                let u1: Float = 1 - data[j]
                let u2 = data[j + 8]
                let radius = (-2 * CephesFloatMath.log(u1, fuse)).squareRoot()
                let (sine, cosine) = CephesFloatMath.sinCos(twoPi * u2, fuse)
                // `_mm256_fmadd_ps(n, std = 1, mean = 0)`: the value itself, with -0 becoming +0.
                data[j] = radius * cosine + 0
                data[j + 8] = radius * sine + 0
            }
        }
    }
}
