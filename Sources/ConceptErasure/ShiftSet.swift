import Diffusion
import NeuralNet
import TensorEngine

/// The one way shifts are put on a loaded model: θ_S = θ + Σ_{k∈S} dW_k (method.md §1, "combining
/// and removing shifts"). Create one per loaded pipeline of any family (`PromptConditionedPipeline`:
/// SD 1.x / 2.x, SDXL); it finds the edited projections and computes the model's fingerprint once,
/// and owns the adapters on those projections.
///
/// - `install` replaces the installed set (checked in full before anything changes);
/// - `remove` returns to the base model (restoring every concept);
/// - `withShifts` installs a set for the duration of a closure and always restores the previous set;
/// - `fuse` adds the installed shifts to the base weights (for writing a model folder);
/// - `withShiftsFused` bakes a set in for the duration of a closure (what a fused model computes).
///
/// Shifts made for another base model are refused unless forced; a shift made for another model
/// family or context width, a shift whose projections or shapes do not fit the model, or the same
/// concept installed twice, is refused always.
public final class ShiftSet {
    public let pipeline: any PromptConditionedPipeline
    public let projections: CrossAttentionProjections
    /// Fingerprint of the weights a shift depends on (text encoder, cross-attention K/V).
    public private(set) var fingerprint: String
    /// The shifts now acting on the model, in installation order.
    public private(set) var installed: [ConceptShift] = []
    private let linearByKey: [String: Linear]

    public init(pipeline: any PromptConditionedPipeline) throws {
        self.pipeline = pipeline
        projections = try CrossAttentionProjections(in: pipeline.unet)
        fingerprint = ModelFingerprint.of(textEncoders: pipeline.textEncoders, crossAttention: projections)
        linearByKey = Dictionary(uniqueKeysWithValues: projections.allProjections)
        place([])
    }

    // MARK: Installed shift files

    /// The family and context width this model's shifts are made for, as shift files record them.
    public var family: ConditioningFamily { pipeline.conditioningFamily }
    public var contextWidth: Int { projections.textWidth }

    /// `metadata` with this model's family and context width recorded (every shift made on it).
    func recordingModel(in metadata: ShiftMetadata) -> ShiftMetadata {
        var m = metadata
        m.modelFamily = family
        m.contextWidth = contextWidth
        return m
    }

    /// Checks that every shift fits this model and that no concept comes twice; throws the first
    /// problem, naming the file. A shift of another family or context width is refused even when
    /// forced: its basis and projections mean nothing on this model.
    public func check(_ shifts: [ConceptShift], force: Bool) throws {
        try Self.checkDistinct(shifts)
        for s in shifts {
            try checkFamily(s)
            if s.metadata.baseFingerprint != fingerprint && !force {
                throw ErasureError.fingerprintMismatch(path: s.displayName, expected: s.metadata.baseFingerprint, found: fingerprint)
            }
            try checkShapes(s.weights, name: s.displayName)
        }
    }

    /// Each concept's shift may come once: the same file given twice would double its change.
    public static func checkDistinct(_ shifts: [ConceptShift]) throws {
        var seen: [String: ConceptShift] = [:]
        for s in shifts {
            if let other = seen[ErasurePlan.key(s.name)] {
                throw ErasureError.incompatibleShift(
                    path: s.displayName, reason: "erases '\(s.name)' again (also \(other.displayName)); each concept's shift can be used once")
            }
            seen[ErasurePlan.key(s.name)] = s
        }
    }

    /// Replaces the installed shifts with `shifts`; on error nothing changes.
    public func install(_ shifts: [ConceptShift], force: Bool = false) throws {
        try check(shifts, force: force)
        installed = shifts
        place(shifts.map(\.weights))
    }

    /// Removes every shift: the base model again.
    public func remove() {
        installed = []
        place([])
    }

    /// Runs `body` with exactly `shifts` installed, then restores the shifts installed before, also
    /// when `body` throws.
    public func withShifts<R>(_ shifts: [ConceptShift], force: Bool = false, _ body: () throws -> R) throws -> R {
        let previous = installed
        try install(shifts, force: force)
        defer {
            installed = previous
            place(previous.map(\.weights))
        }
        return try body()
    }

    /// Adds Σ dW (and Σ Δb) of the installed shifts to the base weights and removes the adapters;
    /// returns the changed tensors' keys (`<projection>.weight`, `<projection>.bias`). The
    /// fingerprint is that of the fused model.
    @discardableResult
    public func fuse() -> [String] {
        let changed = addToBaseWeights(installed).map(\.key)
        remove()
        fingerprint = ModelFingerprint.of(textEncoders: pipeline.textEncoders, crossAttention: projections)
        return changed
    }

    /// Runs `body` with Σ dW of `shifts` baked into the base weights as `fuse` bakes them (float32
    /// W + Σ dW, no adapter, hence no reach mask), then restores the original weights bit for bit
    /// from copies (subtracting Σ dW again would not give the original bits back) and the shifts
    /// installed before, also when `body` throws.
    public func withShiftsFused<R>(_ shifts: [ConceptShift], force: Bool = false, _ body: () throws -> R) throws -> R {
        try check(shifts, force: force)
        return try withShifts([], force: force) {
            let originals = addToBaseWeights(shifts)
            defer { GradMode.withNoGrad { for o in originals { o.tensor.assign(from: o.original) } } }
            return try body()
        }
    }

    /// Adds each projection's Σ dW (and Σ Δb), summed in the shifts' order before the one addition,
    /// to its base tensors. Returns the changed tensors with copies of their values before.
    private func addToBaseWeights(_ shifts: [ConceptShift]) -> [(key: String, tensor: Tensor, original: Tensor)] {
        var changed: [(key: String, tensor: Tensor, original: Tensor)] = []
        GradMode.withNoGrad {
            for (key, linear) in projections.allProjections {
                var total: Tensor?
                var totalBias: Tensor?
                for s in shifts {
                    if let d = s.weightDelta(for: key) { total = total.map { $0 + d } ?? d }
                    if let b = s.weights.biasDelta(for: key) { totalBias = totalBias.map { $0 + b } ?? b }
                }
                if let total {
                    changed.append((key + ".weight", linear.weight, linear.weight.copy()))
                    linear.weight.addInPlace(total)
                }
                if let totalBias, let bias = linear.bias {
                    changed.append((key + ".bias", bias, bias.copy()))
                    bias.addInPlace(totalBias)
                }
            }
        }
        return changed
    }

    // MARK: Training

    /// Freezes every base weight of the UNet and the text encoders: training changes shifts only.
    public func freezeBaseWeights() {
        pipeline.unet.setRequiresGrad(false)
        for encoder in pipeline.textEncoders { encoder.setRequiresGrad(false) }
    }

    /// Runs `body` with `weights` (trainable, not yet a shift file) acting on the model instead of
    /// the installed shifts, which are restored afterwards. The caller made them for this model.
    public func withTrainingWeights<R>(_ weights: [ShiftWeights], _ body: () throws -> R) rethrows -> R {
        place(weights)
        defer { place(installed.map(\.weights)) }
        return try body()
    }

    /// Runs `body` on the base model (every adapter off) without uninstalling anything: the
    /// original model's predictions of a SepME iteration.
    func withShiftsSuspended<R>(_ body: () throws -> R) rethrows -> R {
        let adapters = projections.allProjections.compactMap { $0.1.adapter as? ShiftAdapter }
        for a in adapters { a.isEnabled = false }
        defer { for a in adapters { a.isEnabled = true } }
        return try body()
    }

    // MARK: Adapters

    /// Sets every projection's adapter to the terms of `weights` (nil where none acts).
    private func place(_ weights: [ShiftWeights]) {
        var terms: [String: [ShiftAdapter.Term]] = [:]
        for w in weights {
            switch w {
            case .factorised(let beta, let basis, let factors, let reach):
                for (key, a) in factors {
                    terms[key, default: []].append(.factorised(basis: basis, factor: a, beta: beta, reachThreshold: reach))
                }
            case .dense(let deltas, let biases):
                for (key, d) in deltas { terms[key, default: []].append(.dense(weight: d, bias: biases[key])) }
            }
        }
        for (key, linear) in projections.allProjections {
            linear.adapter = terms[key].map { ShiftAdapter(terms: $0) }
        }
    }

    /// The family the shift records (files written before families were recorded have none) and the
    /// width its weights take must be this model's.
    private func checkFamily(_ shift: ConceptShift) throws {
        let width = shift.weights.inputWidth
        let family = shift.metadata.modelFamily
        guard (family.map { $0 == self.family } ?? true) && (width.map { $0 == contextWidth } ?? true) else {
            throw ErasureError.modelFamilyMismatch(
                path: shift.displayName, shiftFamily: family?.displayName, shiftWidth: width ?? 0,
                modelFamily: self.family.displayName, modelWidth: contextWidth)
        }
    }

    private func checkShapes(_ weights: ShiftWeights, name: String) throws {
        func projection(_ key: String) throws -> Linear {
            guard let linear = linearByKey[key] else {
                throw ErasureError.incompatibleShift(path: name, reason: "projection '\(key)' does not exist in this model")
            }
            return linear
        }
        switch weights {
        case .factorised(_, let basis, let factors, _):
            for (key, a) in factors.sorted(by: { $0.key < $1.key }) {
                let linear = try projection(key)
                guard a.shape[0] == linear.outFeatures, basis.shape[1] == linear.inFeatures else {
                    throw ErasureError.incompatibleShift(
                        path: name, reason: "'\(key)' would be \(a.shape[0])x\(basis.shape[1]), the model's projection is \(linear.weight.shape)")
                }
            }
        case .dense(let deltas, let biases):
            for (key, d) in deltas.sorted(by: { $0.key < $1.key }) {
                let linear = try projection(key)
                guard d.shape == linear.weight.shape else {
                    throw ErasureError.incompatibleShift(
                        path: name, reason: "'\(key)' delta is \(d.shape), the model's projection is \(linear.weight.shape)")
                }
            }
            for (key, b) in biases.sorted(by: { $0.key < $1.key }) {
                guard let bias = try projection(key).bias else {
                    throw ErasureError.incompatibleShift(path: name, reason: "'\(key)' has a bias change, but the model's projection has no bias")
                }
                guard b.shape == bias.shape else {
                    throw ErasureError.incompatibleShift(
                        path: name, reason: "'\(key)' bias change is \(b.shape), the model's bias is \(bias.shape)")
                }
            }
        }
    }
}
