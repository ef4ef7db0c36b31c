import Foundation

/// Arithmetic precision of the engine's matrix products.
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// fp32 throughout (BLAS SGEMM).
    case fp32
    /// Linear layers, convolutions and attention as BF16 products with fp32 accumulation (`BF16GEMM`):
    /// weights and activations (attention: q, k, v and the unnormalised probabilities) rounded to bf16,
    /// sums and everything between the products in fp32. Which products qualify: `BF16Coverage`.
    case bf16
}

/// Which gradient-free products of a bf16 scope run in bf16.
public enum BF16Coverage: Sendable {
    /// The products whose saving repays packing their activations, on a CPU where bf16 products pay at all
    /// (`BF16Payoff`; elsewhere none: the scope runs fp32 products). A BF16 product rounds and packs its
    /// activation operand (a linear layer's input rows, a convolution's im2col columns, attention's q
    /// and probabilities) on every call, which costs as much as a thin product saves. Linear layers and
    /// convolutions with fewer than `PrecisionMode.minimumBF16Outputs` outputs per packed value or sums
    /// shorter than `minimumBF16Depth`, and attention narrower than `minimumBF16HeadWidth`, stay fp32
    /// (on the embedded toy model, whose channels are 32–96 wide, all but one layer; on SD's UNet,
    /// its 4-channel input and output convolutions). Convolutions on the Winograd route (SD's UNet and VAE
    /// resnet convolutions) stay on it, with fifteen of the 36 point products in bf16
    /// (`WinogradBF16Weight`): that route does a quarter of the direct sum's multiply-adds.
    case whereItPays
    /// Every gradient-free product, whatever its size (tests on small models).
    case everyProduct
}

/// The opt-in reduced-precision scope, like `GradMode` a per-task setting. Inside `with(.bf16)`,
/// `Tensor.linear`, `Tensor.conv2d` and `Tensor.scaledDotProductAttention` run as BF16 products whenever
/// they record no gradient (so work that trains stays fp32 even inside the scope); weights are converted
/// once per `BF16WeightCache`.
/// `withFP32` restores fp32 for a part of such work (the shift adapters, whose exact zeros on protected
/// prompts need fp32 projections).
public enum PrecisionMode {
    @TaskLocal static var cache: BF16WeightCache?

    /// The precision of gradient-free products in the current scope.
    public static var current: ComputePrecision { cache == nil ? .fp32 : .bf16 }

    /// Runs `body` with gradient-free products in `precision`. Weights are converted into `cache`
    /// (default: a new one, released with the scope); pass one cache to several scopes over the same,
    /// unchanged weights to convert them once.
    public static func with<T>(
        _ precision: ComputePrecision, cache: BF16WeightCache? = nil, _ body: () throws -> T
    ) rethrows -> T {
        switch precision {
        case .fp32: return try $cache.withValue(nil) { try body() }
        case .bf16: return try $cache.withValue(cache ?? BF16WeightCache()) { try body() }
        }
    }

    /// Runs `body` in fp32 (inside a bf16 scope too).
    public static func withFP32<T>(_ body: () throws -> T) rethrows -> T { try $cache.withValue(nil) { try body() } }

    /// Which products of a bf16 scope run in bf16 (default `.whereItPays`).
    @TaskLocal static var coverage: BF16Coverage = .whereItPays

    /// Runs `body` with `coverage` deciding which products of bf16 scopes (entered inside it or around it)
    /// run in bf16.
    public static func withCoverage<T>(_ coverage: BF16Coverage, _ body: () throws -> T) rethrows -> T {
        try $coverage.withValue(coverage) { try body() }
    }

    /// Under `.whereItPays`: the fewest outputs each value of the packed activation operand must feed (a
    /// linear layer's output features, a convolution's output channels) and the shortest sum (input
    /// features; input channels × kernel taps) of a linear layer or convolution that runs in bf16.
    public static let minimumBF16Outputs = 128
    public static let minimumBF16Depth = 128
    /// Under `.whereItPays`: the narrowest query/key and value width of an attention that runs in bf16.
    public static let minimumBF16HeadWidth = 32

    /// `bf16Cache(inputs:)` for a product whose packed activation values each feed `outputs` outputs
    /// through sums of `depth` terms; nil where the coverage leaves such a product in fp32.
    static func bf16Cache(inputs: [Tensor?], outputs: Int, depth: Int) -> BF16WeightCache? {
        if coverage == .whereItPays && (outputs < minimumBF16Outputs || depth < minimumBF16Depth || !BF16Payoff.pays) {
            return nil
        }
        return bf16Cache(inputs: inputs)
    }

    /// `bf16Cache(inputs:)` for an attention of query/key width `d` and value width `dv`; nil where the
    /// coverage leaves it in fp32.
    static func bf16Cache(inputs: [Tensor?], headWidth d: Int, valueWidth dv: Int) -> BF16WeightCache? {
        if coverage == .whereItPays && (Swift.min(d, dv) < minimumBF16HeadWidth || !BF16Payoff.pays) { return nil }
        return bf16Cache(inputs: inputs)
    }

    /// The cache of the current bf16 scope when a product with these inputs may run in bf16: the scope is
    /// bf16 and no gradient will be recorded through it.
    static func bf16Cache(inputs: [Tensor?]) -> BF16WeightCache? {
        guard let cache else { return nil }
        if GradMode.isEnabled && inputs.contains(where: { $0?.needsGrad ?? false }) { return nil }
        return cache
    }
}

/// Packed bf16 copies of weight tensors, made on first use and kept while the cache lives (`Retention`).
/// Keyed by the tensor's storage (a strong reference is kept, so the key cannot be reused); the weights
/// must not be modified in place while the cache is in use (a shift fused into the weights needs a new
/// cache).
public final class BF16WeightCache: @unchecked Sendable {
    /// What a cache keeps of the weights it converts.
    public enum Retention: Sendable {
        /// Nothing: each product converts its weight and drops the copy when it returns, for a model that
        /// uses each weight once per call (the VAE decoder), where kept copies would only hold memory until
        /// the next call.
        case nothing
        /// The converted copies, beside the fp32 weights.
        case copies
        /// The converted copies instead of the fp32 weights, for a model that runs only in this cache's bf16
        /// scopes from now on (one `generate --precision bf16`): once a weight is converted its fp32 storage
        /// is released (`TensorStorage.release()`), so that the conversions after it reuse that memory
        /// instead of the process touching as much again. A convolution keeps the form of its first
        /// conversion where a later call would take the other route (`convolutionOperand`). Reading a
        /// released weight (an fp32 product) stops the process.
        case copiesReplacingWeights
    }

    /// The form a weight is packed in.
    private enum Form: Hashable {
        case linear, convolution, winograd
    }

    private struct Key: Hashable {
        let storage: ObjectIdentifier
        let shape: [Int]
        let form: Form
    }

    private struct Entry {
        let storage: TensorStorage
        let packed: any PackedWeight
    }

    private var entries: [Key: Entry] = [:]
    private let lock = NSLock()
    private let retention: Retention
    private var releasedBytes = 0

    /// A cache that keeps what `retention` says of the weights it converts.
    public init(retention: Retention = .copies) { self.retention = retention }

    /// Number of weights converted so far.
    public var count: Int { lock.withLock { entries.count } }

    /// Bytes held by the converted weights.
    public var byteCount: Int {
        lock.withLock { entries.values.reduce(0) { $0 + $1.packed.byteCount } }
    }

    /// Bytes of fp32 weights released (`.copiesReplacingWeights`).
    public var releasedByteCount: Int { lock.withLock { releasedBytes } }

    /// `weight` ([out, in]) packed as the right operand of x Wᵀ.
    func linearWeight(_ weight: Tensor) -> BF16PackedMatrix {
        packed(weight, form: .linear) { BF16PackedMatrix(linearWeight: weight) }
    }

    /// The bf16 operand of a convolution by `weight` ([Cout, Cin, kh, kw]): where the call takes the
    /// Winograd route (`winograd`), the weight transformed for F(4×4, 3×3), one operand per point of the
    /// 6 × 6 tile; elsewhere the weight packed as the left operand of W · columns. Under
    /// `.copiesReplacingWeights` a weight is converted once, to the form of its first call; a later call
    /// of another batch or size that would take the other route keeps that form (both routes compute the
    /// same convolution; the route only decides the speed).
    func convolutionOperand(_ weight: Tensor, winograd: Bool) -> Conv2DKernel.Weight {
        let transformed: WinogradBF16Weight? = cached(weight, form: .winograd)
        let packedCopy: BF16PackedMatrix? = cached(weight, form: .convolution)
        if winograd, let transformed { return .bf16Winograd(transformed) }
        if !winograd, let packedCopy { return .bf16(packedCopy) }
        if weight.storage.isReleased {
            if let transformed { return .bf16Winograd(transformed) }
            if let packedCopy { return .bf16(packedCopy) }
        }
        if winograd {
            return .bf16Winograd(
                packed(weight, form: .winograd) {
                    WinogradBF16Weight(weight.pointer, outChannels: weight.shape[0], inChannels: weight.shape[1])
                })
        }
        return .bf16(packed(weight, form: .convolution) { BF16PackedMatrix(convolutionWeight: weight) })
    }

    private func key(_ weight: Tensor, _ form: Form) -> Key {
        Key(storage: ObjectIdentifier(weight.storage), shape: weight.shape, form: form)
    }

    /// The entry of `weight` in `form`, if converted. The form fixes the entry's type.
    private func cached<Packed: PackedWeight>(_ weight: Tensor, form: Form) -> Packed? {
        lock.withLock { entries[key(weight, form)] }?.packed as? Packed
    }

    /// `weight` in `form`, converted by `make` unless cached; kept as `retention` says (under
    /// `.copiesReplacingWeights`, its fp32 storage released).
    private func packed<Packed: PackedWeight>(_ weight: Tensor, form: Form, make: () -> Packed) -> Packed {
        if let hit: Packed = cached(weight, form: form) { return hit }
        let made = make()
        let key = key(weight, form)
        switch retention {
        case .nothing: break
        case .copies: lock.withLock { entries[key] = Entry(storage: weight.storage, packed: made) }
        case .copiesReplacingWeights:
            let released = weight.storage.release()
            lock.withLock {
                entries[key] = Entry(storage: weight.storage, packed: made)
                if released { releasedBytes += weight.storage.count * MemoryLayout<Float>.stride }
            }
        }
        return made
    }
}

/// A weight converted for bf16 products and kept by `BF16WeightCache`.
protocol PackedWeight: AnyObject {
    /// Bytes held by its operands.
    var byteCount: Int { get }
}

extension BF16PackedMatrix: PackedWeight {}
extension WinogradBF16Weight: PackedWeight {}
