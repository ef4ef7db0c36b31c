import CMatrixKernels

// 3×3 convolutions with stride 1 and padding 1 (every convolution of SD's resnets and of the toy UNet
// but the downsamplers) without an im2col column matrix: CMatrixKernels/conv3x3.c reads each image
// zero-padded once, and its micro-kernel takes the pixel vectors straight from the padded planes (the
// 9 taps are 9 fixed offsets). The input gradient of such a convolution is the same operation with
// the weight transposed and its taps reversed (dx = conv3x3(dy, w'), w'[ci, co, i, j] = w[co, ci, 2−i, 2−j]).
// Used where the CPU has AVX2 + FMA (`isAvailable`); elsewhere `Conv2DKernel` keeps im2col + SGEMM.

enum DirectConv3x3 {
    /// True when the kernel runs on this CPU (AVX-512F or AVX2 + FMA).
    static var isAvailable: Bool { sepme_conv3x3_path() > 0 }

    /// The kernel path: 2 = AVX-512F, 1 = AVX2 + FMA, 0 = none.
    static var path: Int { Int(sepme_conv3x3_path()) }

    /// Tests: the highest path to use; returns the previous limit (not while convolutions run).
    @discardableResult
    static func setPathLimit(_ limit: Int) -> Int { Int(sepme_conv3x3_set_path(Int32(limit))) }

    /// Largest zero-padded input image (floats) the kernel takes by default. A pixel tile reads 3 rows of
    /// every input plane, and consecutive tiles share those rows while the weights stream past, so the
    /// rows have to stay in L2 (SD's UNet at 64×64 latents, the VAE's lower levels). Larger images (the
    /// VAE decoder's 256² and 512² levels) go to im2col + SGEMM, whose bands keep the columns in cache.
    static let maxPaddedInput = 4 << 20

    /// Smallest image (pixels) the kernel takes by default. On small planes (SD's 16×16 level) there
    /// are few pixel tiles, and im2col + SGEMM (where a 1280 × 256 × 11520 product runs near peak)
    /// splits the work as well.
    static let minPixels = 32 * 32

    /// True for the geometry this kernel computes (3×3, stride 1, padding 1) on a CPU that has it, on
    /// the images `route` sends to it.
    static func applies(_ g: Conv2DGeometry) -> Bool {
        guard g.isSamePadded3x3 && isAvailable
        else { return false }
        switch Conv2DKernel.route {
        case .im2col, .winograd: return false
        case .direct: return true
        case .automatic:
            return g.height * g.width >= minPixels && g.channels * (g.height + 2) * (g.width + 2) <= maxPaddedInput
        }
    }

    /// out = W ⋆ x + bias.
    // x: [N, Cin, H, W], weight: [Cout, Cin, 3, 3], bias: [Cout]? -> out: [N, Cout, H, W]
    static func forward(
        x: UnsafePointer<Float>, batch: Int, weight: UnsafePointer<Float>, outChannels: Int,
        bias: UnsafePointer<Float>?, _ g: Conv2DGeometry, out: UnsafeMutablePointer<Float>
    ) {
        let packed = pack(weight, outChannels: outChannels, inChannels: g.channels, adjoint: false)
        defer { packed.deallocate() }
        run(
            input: x, batch: batch, inChannels: g.channels, outChannels: outChannels, height: g.height,
            width: g.width, packed: packed, bias: bias, out: out)
    }

    /// dx = conv3x3(dy, w') (overwrites dx), the input gradient of `forward`.
    // dy: [N, Cout, H, W], weight: [Cout, Cin, 3, 3] -> dx: [N, Cin, H, W]
    static func inputGradient(
        dy: UnsafePointer<Float>, batch: Int, weight: UnsafePointer<Float>, outChannels: Int,
        _ g: Conv2DGeometry, dx: UnsafeMutablePointer<Float>
    ) {
        let packed = pack(weight, outChannels: outChannels, inChannels: g.channels, adjoint: true)
        defer { packed.deallocate() }
        run(
            input: dy, batch: batch, inChannels: outChannels, outChannels: g.channels, height: g.height,
            width: g.width, packed: packed, bias: nil, out: dx)
    }

    /// The weight in the kernel's blocks (its adjoint's for `adjoint`), in a buffer the caller deallocates.
    private static func pack(
        _ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int, adjoint: Bool
    ) -> UnsafeMutablePointer<Float> {
        let produced = adjoint ? inChannels : outChannels
        let consumed = adjoint ? outChannels : inChannels
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: sepme_conv3x3_packed_count(produced, consumed))
        sepme_conv3x3_pack(packed, weight, outChannels, inChannels, adjoint ? 1 : 0)
        return packed
    }

    /// Images in parallel (each worker pads its images into its own buffer); a single image splits
    /// its output channels over the workers instead.
    // input: [N, inChannels, H, W] -> out: [N, outChannels, H, W]
    private static func run(
        input: UnsafePointer<Float>, batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>
    ) {
        let paddedCount = sepme_conv3x3_padded_count(inChannels, height, width)
        let inImage = inChannels * height * width
        let outImage = outChannels * height * width
        if batch > 1 {
            // The workers' buffers come from the calling thread as one block, which `LargeBlockCache` or the
            // main heap (`AllocatorTuning`) reuses; worker threads' arenas would hand back fresh pages.
            let workers = Swift.min(batch, Parallel.threadCount)
            let buffers = LargeBlockCache.allocateFloats(workers * paddedCount)
            defer { LargeBlockCache.deallocateFloats(buffers, count: workers * paddedCount) }
            Parallel.forEach(workers) { w in
                let padded = buffers + w * paddedCount
                for n in Swift.stride(from: w, to: batch, by: workers) {
                    sepme_conv3x3_pad(padded, input + n * inImage, inChannels, height, width)
                    sepme_conv3x3_run(
                        padded, inChannels, height, width, packed, outChannels, bias, out + n * outImage, 0, outChannels)
                }
            }
            return
        }
        let padded = LargeBlockCache.allocateFloats(paddedCount)
        defer { LargeBlockCache.deallocateFloats(padded, count: paddedCount) }
        sepme_conv3x3_pad(padded, input, inChannels, height, width)
        let mr = Int(SEPME_CONV3X3_MR)
        let blocks = (outChannels + mr - 1) / mr
        let chunks = Swift.min(blocks, Parallel.threadCount)
        let perChunk = (blocks + chunks - 1) / chunks
        Parallel.forEach(chunks) { c in
            let lo = c * perChunk * mr
            let hi = Swift.min(outChannels, (c + 1) * perChunk * mr)
            if lo < hi { sepme_conv3x3_run(padded, inChannels, height, width, packed, outChannels, bias, out, lo, hi) }
        }
    }
}
