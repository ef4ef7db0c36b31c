import Foundation
import TensorEngine

/// GFLOP/s of the engine's hot kernels at Stable Diffusion v1 UNet shapes, each next to the plain
/// SGEMM rate of this machine (a 2048³ GEMM through BLAS.sgemm) measured right before that row, so
/// the ratio stays meaningful on a machine whose load changes during the run, and as a fraction of the
/// fp32 FMA peak (`PeakRate`) measured at the start of the same invocation.
struct KernelBenchmarks {
    /// Minimum wall time spent per measurement; the best repetition is reported.
    var minSeconds: Double = 1.0
    /// Query rows per attention block (nil: the kernel's default for each shape).
    var queryBlock: Int? = nil
    /// The fp32 peak of this invocation, measured by `header()`.
    private let peak = PeakReference()

    /// Holds the peak measured once per invocation.
    private final class PeakReference {
        var gflops: Double?
    }

    /// Best wall time of `body` over repetitions filling at least `minSeconds` (after one warm-up).
    func bestTime(_ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        var spent = 0.0
        var reps = 0
        while spent < minSeconds || reps < 3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, dt)
            spent += dt
            reps += 1
            if reps >= 50 { break }
        }
        return best
    }

    private func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        var state: UInt32 = 12345
        let n = shape.reduce(1, *)
        let t = Tensor(uninitialized: shape)
        for i in 0..<n {
            state = state &* 1_664_525 &+ 1_013_904_223
            t.pointer[i] = (Float(state >> 8) / Float(1 << 24) - 0.5) * 2 * scale
        }
        return t
    }

    /// GFLOP/s of C[m, n] = A[m, k] B[k, n]; with `transposedRight`, of A Wᵀ with W [n, k] (a linear
    /// layer as `Tensor.linear` runs it).
    func sgemmRate(m: Int, n: Int, k: Int, transposedRight: Bool = false) -> Double {
        let a = random([m, k])
        let b = random(transposedRight ? [n, k] : [k, n])
        let c = Tensor(uninitialized: [m, n])
        let t = bestTime {
            BLAS.sgemm(
                transA: false, transB: transposedRight, m: m, n: n, k: k, a: a.pointer, lda: k,
                b: b.pointer, ldb: transposedRight ? k : n, c: c.pointer, ldc: n)
        }
        return 2 * Double(m * n * k) / t / 1e9
    }

    /// Measures the fp32 peak of this invocation and prints the column heads.
    private func header() {
        print("threads \(Parallel.threadCount), OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        print("sgemm rows: \(SGEMMKernel.path)")
        peak.gflops = PeakRate.measure(.fp32)
        print("fp32 peak (\(PeakRate.fp32Instructions), \(Parallel.threadCount) threads): " + String(format: "%.1f GFLOP/s", peak.gflops ?? 0))
        print(column("case", 60) + column("ms", 10) + column("GFLOP/s", 10) + column("SGEMM GFLOP/s", 15) + column("ratio", 7) + "of peak")
    }

    /// Prints one result; the SGEMM reference (2048³) is measured again just before `seconds` was.
    private func row(_ name: String, seconds: @autoclosure () -> Double, flops: Double) {
        let reference = referenceRate()
        let t = seconds()
        let rate = flops / t / 1e9
        let ofPeak = peak.gflops.map { String(format: "%.0f%%", 100 * rate / $0) } ?? "-"
        print(
            column(name, 60) + column(String(format: "%.2f", t * 1e3), 10) + column(String(format: "%.1f", rate), 10)
                + column(String(format: "%.1f", reference), 15) + column(String(format: "%.0f%%", 100 * rate / reference), 7) + ofPeak)
    }

    func referenceRate() -> Double {
        var short = self
        short.minSeconds = Swift.min(minSeconds, 0.3)
        return short.sgemmRate(m: 2048, n: 2048, k: 2048)
    }

    /// SGEMM at the shapes of SD1's linear layers (tokens × features), convolutions and attention,
    /// each followed by the linked OpenBLAS at the same shape where sepme's own kernels take the
    /// products (`openblas` rows), and by the BF16 product (`bf16` rows: the right operand packed
    /// once, as a cached weight is; the left operand packed in every call, as activations are).
    func gemm(bf16: Bool = true) {
        header()
        if bf16 { print("bf16 rows: \(BF16GEMM.path)") }
        for (m, n, k) in [
            (4096, 1280, 320), (4096, 320, 1280), (4096, 640, 640), (1024, 2560, 640),
            (256, 5120, 1280), (4096, 320, 320),
            // the cross-attention projections of 77 text tokens
            (77, 320, 768), (77, 1280, 768),
            // im2col convolutions: [Cout, Cin·9] × [Cin·9, pixels]
            (320, 4096, 2880), (1280, 256, 11520),
            // attention scores and values as one product over a whole sequence (128 query rows, 4096 keys,
            // D 40), and cross-attention scores of 4096 queries; the fused kernel multiplies tiles (below)
            (128, 4096, 40), (128, 40, 4096), (4096, 77, 40)
        ] {
            let flops = 2 * Double(m * n * k)
            row("sgemm \(m)x\(n)x\(k)", seconds: flops / sgemmRate(m: m, n: n, k: k) / 1e9, flops: flops)
            if SGEMMKernel.path != .blas {
                let rate = SGEMMKernel.withPathLimit(.blas) { sgemmRate(m: m, n: n, k: k) }
                row("openblas \(m)x\(n)x\(k)", seconds: flops / rate / 1e9, flops: flops)
            }
            if bf16 { row("bf16 \(m)x\(n)x\(k)", seconds: flops / bf16Rate(m: m, n: n, k: k) / 1e9, flops: flops) }
        }
        // Linear layers on text tokens as `Tensor.linear` runs them (x Wᵀ, the weight read transposed): the
        // cross-attention keys and values of SD1's levels, and the CLIP ViT-L/14 text encoder's attention
        // projections and feed-forward (one prompt, and the two of classifier-free guidance); `panels` rows:
        // the same on the panel kernels, where the dot-product route would take it.
        for (m, n, k) in [
            (77, 320, 768), (77, 1280, 768), (77, 768, 768), (77, 3072, 768), (77, 768, 3072), (154, 768, 768)
        ] {
            let flops = 2 * Double(m * n * k)
            row(
                "sgemm x·Wᵀ \(m)x\(n)x\(k)",
                seconds: flops / sgemmRate(m: m, n: n, k: k, transposedRight: true) / 1e9, flops: flops)
            if SGEMMKernel.runsAsDotProducts(m: m, k: k) {
                let rate = SGEMMKernel.withoutDotProducts { sgemmRate(m: m, n: n, k: k, transposedRight: true) }
                row("panels x·Wᵀ \(m)x\(n)x\(k)", seconds: flops / rate / 1e9, flops: flops)
            }
            if SGEMMKernel.path != .blas {
                let rate = SGEMMKernel.withPathLimit(.blas) { sgemmRate(m: m, n: n, k: k, transposedRight: true) }
                row("openblas x·Wᵀ \(m)x\(n)x\(k)", seconds: flops / rate / 1e9, flops: flops)
            }
        }
        // The fused attention kernel's tile products (`Tensor.attentionQueryBlock`), as it runs them: each
        // thread multiplies its own tile, every thread at once. Self-attention at the head widths of SD1's
        // three levels (4096, 1024, 256 tokens: 512 or 256 keys per tile, 128 query rows), cross-attention
        // to 77 text tokens (212 query rows).
        for (m, n, k) in [
            (128, 512, 40), (128, 40, 512), (128, 512, 80), (128, 80, 512), (128, 256, 160), (128, 160, 256),
            (212, 77, 40), (212, 40, 77)
        ] {
            let flops = 2 * Double(m * n * k)
            row("tiles \(m)x\(n)x\(k)", seconds: flops / tileRate(m: m, n: n, k: k) / 1e9, flops: flops)
            if SGEMMKernel.path != .blas {
                let rate = SGEMMKernel.withPathLimit(.blas) { tileRate(m: m, n: n, k: k) }
                row("openblas tiles \(m)x\(n)x\(k)", seconds: flops / rate / 1e9, flops: flops)
            }
        }
        // The bf16 attention kernel's tile products (`BF16AttentionKernel`: keys down the tile, queries
        // across): Sᵀ = K_j Q_blkᵀ ([keys, D] × [D, 128 queries]) and Oᵀ = V_jᵀ P ([Dv, keys] × [keys,
        // 128 queries]) at the three self-attention levels, each thread on its own packed operands.
        guard bf16 else { return }
        for (m, n, k) in [(512, 128, 40), (40, 128, 512), (512, 128, 80), (80, 128, 512), (256, 128, 160), (160, 128, 256)] {
            let flops = 2 * Double(m * n * k)
            row("bf16 tiles \(m)x\(n)x\(k)", seconds: flops / bf16TileRate(m: m, n: n, k: k) / 1e9, flops: flops)
        }
    }

    /// GFLOP/s of C[m, n] = A[m, k] B[k, n] as a BF16 product on operands packed beforehand, on
    /// `concurrentRate`'s schedule, as the bf16 attention kernel multiplies.
    func bf16TileRate(m: Int, n: Int, k: Int) -> Double {
        let operands = (0..<Parallel.threadCount).map { _ in
            let (a, b) = (random([m, k]), random([k, n]))
            return (
                a: BF16PackedMatrix(left: a.pointer, rows: m, depth: k, rowStride: k, depthStride: 1),
                b: BF16PackedMatrix(right: b.pointer, depth: k, columns: n, depthStride: n, columnStride: 1),
                c: Tensor(uninitialized: [m, n])
            )
        }
        return concurrentRate(m: m, n: n, k: k) { w in
            let (a, b, c) = operands[w]
            BF16GEMM.multiply(a, b, into: c.pointer, ldc: n, accumulate: false)
        }
    }

    /// GFLOP/s of C[m, n] = A[m, k] B[k, n] as one of the fused attention kernel's tiles, on
    /// `concurrentRate`'s schedule.
    func tileRate(m: Int, n: Int, k: Int) -> Double {
        let operands = (0..<Parallel.threadCount).map { _ in
            (a: random([m, k]), b: random([k, n]), c: Tensor(uninitialized: [m, n]))
        }
        return concurrentRate(m: m, n: n, k: k) { w in
            let (a, b, c) = operands[w]
            BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
        }
    }

    /// GFLOP/s of m × n × k products when every thread runs `multiply(thread)` on its own operands at
    /// the same time (`BLASThreading.forEachItem`, each product on its calling thread), 16 in a row, as a
    /// thread runs one block's key tiles.
    private func concurrentRate(m: Int, n: Int, k: Int, _ multiply: (Int) -> Void) -> Double {
        let (threads, repeats) = (Parallel.threadCount, 16)
        let t = bestTime {
            BLASThreading.forEachItem(threads) { w in
                for _ in 0..<repeats { multiply(w) }
            }
        }
        return Double(threads * repeats) * 2 * Double(m * n * k) / t / 1e9
    }

    /// GFLOP/s of C[m, n] = A[m, k] B[k, n] as a BF16 product, packing A in every call.
    func bf16Rate(m: Int, n: Int, k: Int) -> Double {
        let a = random([m, k])
        let b = random([k, n])
        let c = Tensor(uninitialized: [m, n])
        let right = BF16PackedMatrix(right: b.pointer, depth: k, columns: n, depthStride: n, columnStride: 1)
        let t = bestTime {
            let left = BF16PackedMatrix(left: a.pointer, rows: m, depth: k, rowStride: k, depthStride: 1)
            BF16GEMM.multiply(left, right, into: c.pointer, ldc: n, accumulate: false)
        }
        return 2 * Double(m * n * k) / t / 1e9
    }

    /// 3×3 padding-1 convolutions of the UNet's three widest levels, forward and forward+backward
    /// (backward to the input only, as for a frozen UNet, and to input and weight), on every route
    /// (the direct kernel, im2col + SGEMM, Winograd F(4×4, 3×3)) in the same run; the route conv2d picks
    /// for the shape is marked "default".
    func conv() {
        print("GFLOP/s count the direct sum's multiply-adds on every route (Winograd does fewer, so it can read above the peak)")
        header()
        // The direct route exists where the CPU has the kernel (forcing it then takes every image).
        let hasKernel = Tensor.withConvolutionRoute(.direct) {
            Tensor.convolutionRoute(batch: 1, channels: 1, height: 1, width: 1, outChannels: 1) == .direct
        }
        let routes: [Tensor.ConvolutionRoute] = hasKernel ? [.direct, .im2col, .winograd] : [.im2col, .winograd]
        for (size, channels) in [(64, 320), (32, 640), (16, 1280)] {
            for batch in [1, 2] {
                let x = random([batch, channels, size, size])
                let w = random([channels, channels, 3, 3], scale: 0.02)
                let b = random([channels])
                let dy = random([batch, channels, size, size])
                let flops = 2 * Double(batch * channels * size * size * channels * 9)
                let name = "conv3x3 \(batch)x\(channels)x\(size)x\(size)->\(channels)"
                let automatic = Tensor.convolutionRoute(
                    batch: batch, channels: channels, height: size, width: size, outChannels: channels)
                for route in routes {
                    let label = "\(route)" + (route == automatic ? ", default" : "")
                    Tensor.withConvolutionRoute(route) {
                        row(
                            "\(name) fwd (\(label))",
                            seconds: bestTime {
                                _ = GradMode.withNoGrad { Tensor.conv2d(x, weight: w, bias: b, padding: 1) }
                            }, flops: flops)
                        x.requiresGrad = true
                        row(
                            "\(name) fwd+bwd dx (\(label))",
                            seconds: bestTime {
                                x.grad = nil
                                Tensor.conv2d(x, weight: w, bias: b, padding: 1).backward(gradient: dy)
                            }, flops: 2 * flops)
                        w.requiresGrad = true
                        row(
                            "\(name) fwd+bwd dx,dW (\(label))",
                            seconds: bestTime {
                                x.grad = nil
                                w.grad = nil
                                Tensor.conv2d(x, weight: w, bias: b, padding: 1).backward(gradient: dy)
                            }, flops: 3 * flops)
                        x.requiresGrad = false
                        w.requiresGrad = false
                        x.grad = nil
                        w.grad = nil
                    }
                }
            }
        }
        let x = random([2, 320, 64, 64])
        let w = random([640, 320, 1, 1], scale: 0.05)
        row(
            "conv1x1 2x320x64x64->640 fwd",
            seconds: bestTime {
                _ = GradMode.withNoGrad { Tensor.conv2d(x, weight: w) }
            }, flops: 2 * Double(2 * 640 * 4096 * 320))
    }

    /// SD1 self-attention (4096 and 1024 tokens, 8 heads, D 40) and cross-attention to 77 tokens at
    /// the UNet's three widths (4096 tokens D 40, 1024 D 80, 256 D 160), and self-attention with the
    /// head width of SD 2.x and SDXL (4096 tokens, D 64), batch 2; the forward also with
    /// bf16 products (`BF16AttentionKernel`), and each pass also without the fused rows or tiles.
    /// FLOPs counted as 4·Lq·Lk·D per head forward and 8·Lq·Lk·D backward (no credit for the
    /// recomputation of P).
    func attention() {
        header()
        print("query block \(queryBlock.map(String.init) ?? "default (about 2^14 scores per tile, at least 128 rows)")")
        let cases = [
            ("self 4096x4096", 4096, 4096, 40), ("cross 4096x77", 4096, 77, 40), ("cross 1024x77", 1024, 77, 80),
            ("cross 256x77", 256, 77, 160), ("self 1024x1024", 1024, 1024, 40), ("self 4096x4096", 4096, 4096, 64)
        ]
        for (name, lq, lk, d) in cases {
            let (b, h) = (2, 8)
            let q = random([b, h, lq, d])
            let k = random([b, h, lk, d])
            let v = random([b, h, lk, d])
            let unit = Double(b * h * lq * lk * d)
            let label = "attention \(name) B2 H8 D\(d)"
            row(
                "\(label) fwd",
                seconds: bestTime {
                    _ = GradMode.withNoGrad { Tensor.scaledDotProductAttention(q, k, v, queryBlock: queryBlock) }
                }, flops: 4 * unit)
            // The same shape without the fused rows or tiles (the same bits).
            row(
                "\(label) fwd general path",
                seconds: bestTime {
                    _ = Tensor.withFusedAttentionRows(false) {
                        GradMode.withNoGrad { Tensor.scaledDotProductAttention(q, k, v, queryBlock: queryBlock) }
                    }
                }, flops: 4 * unit)
            row(
                "\(label) fwd bf16",
                seconds: bestTime {
                    _ = PrecisionMode.with(.bf16) {
                        GradMode.withNoGrad { Tensor.scaledDotProductAttention(q, k, v, queryBlock: queryBlock) }
                    }
                }, flops: 4 * unit)
            let dy = random([b, h, lq, d])
            for t in [q, k, v] { t.requiresGrad = true }
            row(
                "\(label) fwd+bwd",
                seconds: bestTime {
                    for t in [q, k, v] { t.grad = nil }
                    Tensor.scaledDotProductAttention(q, k, v, queryBlock: queryBlock).backward(gradient: dy)
                }, flops: 12 * unit)
            row(
                "\(label) fwd+bwd general path",
                seconds: bestTime {
                    Tensor.withFusedAttentionRows(false) {
                        for t in [q, k, v] { t.grad = nil }
                        Tensor.scaledDotProductAttention(q, k, v, queryBlock: queryBlock).backward(gradient: dy)
                    }
                }, flops: 12 * unit)
        }
    }

    /// GEGLU (hidden · gelu(gate)) at the SD1 64×64 feed-forward shape, forward and forward + backward,
    /// next to the same fused loops written with libm's erff / expf, timed in the same run.
    func geglu() {
        print("threads \(Parallel.threadCount)")
        let (rows, inner) = (4096, 1280)
        let p = random([1, rows, 2 * inner], scale: 3)
        let dy = random([1, rows, inner])
        let invSqrt2: Float = 0.70710678118654752
        let invSqrt2Pi: Float = 0.39894228040143268
        let libmOut = Tensor(uninitialized: [1, rows, inner])
        let libmGrad = Tensor(uninitialized: p.shape)
        func libmForward() {
            let src = p.pointer
            let dst = libmOut.pointer
            Parallel.forEachChunk(rows, minChunk: 16) { range in
                for r in range {
                    let h = src + r * 2 * inner
                    let g = h + inner
                    let o = dst + r * inner
                    for j in 0..<inner { o[j] = h[j] * 0.5 * g[j] * (1 + Foundation.erf(g[j] * invSqrt2)) }
                }
            }
        }
        func libmBackward() {
            let src = p.pointer
            let gp = dy.pointer
            let d = libmGrad.pointer
            Parallel.forEachChunk(rows, minChunk: 16) { range in
                for r in range {
                    let h = src + r * 2 * inner
                    let g = h + inner
                    let gr = gp + r * inner
                    let dh = d + r * 2 * inner
                    let dg = dh + inner
                    for j in 0..<inner {
                        let x = g[j]
                        let cdf = 0.5 * (1 + Foundation.erf(x * invSqrt2))
                        dh[j] = gr[j] * x * cdf
                        dg[j] = gr[j] * h[j] * (cdf + x * invSqrt2Pi * Foundation.exp(-0.5 * x * x))
                    }
                }
            }
        }
        let ours = bestTime { _ = GradMode.withNoGrad { p.gatedGelu() } }
        let libm = bestTime { libmForward() }
        p.requiresGrad = true
        let oursBoth = bestTime {
            p.grad = nil
            p.gatedGelu().backward(gradient: dy)
        }
        let libmBoth = bestTime {
            libmForward()
            libmBackward()
        }
        let out = GradMode.withNoGrad { p.gatedGelu() }
        p.requiresGrad = false
        libmForward()
        var worst: Float = 0
        for i in 0..<out.count { worst = Swift.max(worst, abs(out.pointer[i] - libmOut.pointer[i])) }
        print(
            String(
                format: "GEGLU [1, %d, %d] fwd:     %7.2f ms, libm erff loop %7.2f ms, ratio %.2f", rows, 2 * inner, ours * 1e3, libm * 1e3,
                ours / libm))
        print(
            String(
                format: "GEGLU [1, %d, %d] fwd+bwd: %7.2f ms, libm erff loop %7.2f ms, ratio %.2f", rows, 2 * inner, oursBoth * 1e3, libmBoth * 1e3,
                oursBoth / libmBoth))
        print(String(format: "max |ours − libm| on the forward: %.2e (inputs in [-3, 3])", worst))
    }
}

/// `text` left-aligned in a column of `width` characters (followed by one space when it fills it): the
/// benchmark tables' cells.
func column(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
