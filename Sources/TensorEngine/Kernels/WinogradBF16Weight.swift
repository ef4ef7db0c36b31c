import CMatrixKernels

/// The transformed weight U[ξ] = (G g Gᵀ)[ξ] of a 3 × 3 convolution for `WinogradConv3x3`'s bf16 forward:
/// each of the 36 points of the 6 × 6 tile holds a Cout × Cin operand, in bf16 (`BF16PackedMatrix`, the left
/// operand of `BF16GEMM`) at the fifteen points whose rounding the transforms amplify least, in fp32 at the
/// others.
///
/// Why the rest stay fp32: an output pixel is Aᵀ M A of the 36 products M[ξ] = U[ξ] · V[ξ], and the 1-D
/// points 2, −2 and ∞ of F(4, 3) carry the largest coefficients of the three transforms (Aᵀ's 4 and 8 at
/// ±2; Bᵀ's 4 and 5 and G's unscaled g₂ at ∞). A product's rounding error reaches the output scaled by
/// about the product of its two 1-D factors |Aᵀ column|∞ · |G row|₁ · |Bᵀ row|₁ (2.5, 5, 5, 14, 14 and 10
/// for the points 0, 1, −1, 2, −2, ∞). The points whose 2-D factor is at most 35 are rounded: {0, 1, −1}²
/// (up to 25), and 0 paired with ∞ (25), 2 or −2 (35). That is the largest bound measured whose bf16
/// generation stays below PyTorch's bf16 autocast in error (docs/benchmarks.md, "Reduced precision"); the
/// next, 50, which adds ±1 paired with ∞, reaches autocast's error. `WinogradConv3x3Tests` bounds the
/// result against a Double direct sum.
final class WinogradBF16Weight: @unchecked Sendable {
    /// Output and input channels.
    let outChannels: Int, inChannels: Int
    /// The bf16 operand of each point; nil at the fp32 points.
    let packed: [BF16PackedMatrix?]
    /// The fp32 points' operands, [fp32Points.count, Cout, Cin].
    private let fp32Storage: UnsafeMutablePointer<Float>
    /// The fp32 points, in storage order.
    let fp32Points: [Int]

    /// Each 1-D point's rounding factor |Aᵀ column|∞ · |G row|₁ · |Bᵀ row|₁, in the order of the transforms
    /// in winograd.c (0, 1, −1, 2, −2, ∞).
    static let pointFactors: [Float] = [2.5, 5, 5, 14, 14, 10]
    /// The largest 2-D factor (the product of a point's two 1-D ones) rounded to bf16.
    static let bf16FactorBound: Float = 35

    /// True for the points of the 6 × 6 tile that stay fp32 (see the type's comment): those whose two 1-D
    /// factors multiply to more than `bf16FactorBound`.
    static func isFP32Point(_ point: Int) -> Bool {
        let side = pointFactors.count  // points per side of the tile (SEPME_WINOGRAD_POINTS = 6 × 6)
        return pointFactors[point / side] * pointFactors[point % side] > bf16FactorBound
    }

    /// Transforms `weight` ([Cout, Cin, 3, 3]) and keeps each point in its precision.
    // weight: [Cout, Cin, 3, 3] -> 36 × [Cout, Cin]
    init(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int) {
        self.outChannels = outChannels
        self.inChannels = inChannels
        let points = Int(SEPME_WINOGRAD_POINTS)
        let size = outChannels * inChannels
        let u = WinogradConv3x3.transformWeight(weight, cout: outChannels, cin: inChannels, adjoint: false)
        defer { LargeBlockCache.deallocateFloats(u, count: points * size) }
        let fp32Points = (0..<points).filter(Self.isFP32Point)
        let fp32Storage = LargeBlockCache.allocateFloats(Swift.max(1, fp32Points.count * size))
        // On the workers: the copy's first touch of fresh pages is most of a conversion's time.
        Parallel.forEach(fp32Points.count) { slot in
            (fp32Storage + slot * size).update(from: u + fp32Points[slot] * size, count: size)
        }
        self.fp32Points = fp32Points
        self.fp32Storage = fp32Storage
        packed = (0..<points).map { point in
            Self.isFP32Point(point)
                ? nil
                : BF16PackedMatrix(
                    left: u + point * size, rows: outChannels, depth: inChannels, rowStride: inChannels, depthStride: 1)
        }
        MemoryStatistics.shared.allocated(bytes: fp32Bytes)
    }

    deinit {
        LargeBlockCache.deallocateFloats(fp32Storage, count: Swift.max(1, fp32Points.count * outChannels * inChannels))
        MemoryStatistics.shared.freed(bytes: fp32Bytes)
    }

    private var fp32Bytes: Int { Swift.max(1, fp32Points.count * outChannels * inChannels) * 4 }

    /// The fp32 operand of `point` (one of `fp32Points`), row-major Cout × Cin.
    func fp32Operand(_ point: Int) -> UnsafePointer<Float>? {
        fp32Points.firstIndex(of: point).map { UnsafePointer(fp32Storage + $0 * outChannels * inChannels) }
    }

    /// Bytes held by both kinds of operand.
    var byteCount: Int { fp32Points.count * outChannels * inChannels * 4 + packed.reduce(0) { $0 + ($1?.byteCount ?? 0) } }
}
