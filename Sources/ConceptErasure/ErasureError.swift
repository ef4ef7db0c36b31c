/// Errors of the erasure layer. Each names the concept, file, key or value concerned and what was
/// expected; none names a command-line flag (the CLI maps `outOfRange` keys and the plan's fields
/// to its flags).
public enum ErasureError: Error, CustomStringConvertible, Equatable {
    /// A hyper-parameter or setting outside its range, by its JSON key ("lr", "beta", ...).
    case outOfRange(key: String, value: String, allowed: String)
    /// The plan is not one sepme can run (no concept, an empty or duplicated one, a concept also
    /// protected, two concepts whose shift files would have the same name, ...); `field` is the
    /// plan's JSON key at fault ("concepts", "protected", "decouple_from").
    case invalidPlan(field: String, reason: String)
    /// No null space is left for a concept: too many prompts to stay decoupled from.
    case noNullSpace(concept: String, rows: Int, rank: Int, width: Int, promptsThatFit: Int)
    case nonFiniteLoss(concept: String, iteration: Int, checkpoint: String?)
    case invalidShiftFile(path: String, reason: String)
    case fingerprintMismatch(path: String, expected: String, found: String)
    /// A shift made for another model family or cross-attention context width (an SD 1.x shift on
    /// SDXL, or the reverse); `shiftFamily` is nil for a file that does not record its family.
    case modelFamilyMismatch(path: String, shiftFamily: String?, shiftWidth: Int, modelFamily: String, modelWidth: Int)
    /// A shift that cannot act on this model, or a set of shifts that cannot be combined.
    case incompatibleShift(path: String, reason: String)
    case noCrossAttention
    case trainingImages(path: String, reason: String)
    case output(path: String, reason: String)
    case checkpoint(path: String, reason: String)
    case interrupted(checkpoint: String?)
    /// A plan file (`plan.json`) that cannot be read, or does not describe a plan sepme can run.
    case planFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .outOfRange(let key, let value, let allowed): return "\(key) is \(value), expected \(allowed)"
        case .invalidPlan(_, let reason): return reason
        case .noNullSpace(let c, let rows, let rank, let width, let fit):
            return
                "concept '\(c)': no null space left: its \(rows) protected embedding rows have rank \(rank) = the text width \(width); about \(fit) prompts fit in the exact mode. Use a null-space tolerance (e.g. 1e-3) for an approximate null space with a reported leak bound, or protect fewer prompts."
        case .nonFiniteLoss(let c, let it, let ckpt):
            return "concept '\(c)': the loss became NaN/infinite at iteration \(it)" + (ckpt.map { "; the last good state is kept in \($0)" } ?? "")
        case .invalidShiftFile(let p, let r): return "\(p): not a valid sepme shift file: \(r)"
        case .fingerprintMismatch(let p, let e, let f):
            return "\(p): made for a base model with fingerprint \(e), but this model's is \(f) (it can be forced onto this model)"
        case .modelFamilyMismatch(let p, let sf, let sw, let mf, let mw):
            let made = sf.map { "a \($0) model with cross-attention context width \(sw)" } ?? "a model with cross-attention context width \(sw)"
            return
                "\(p): made for \(made), but this model is \(mf) with context width \(mw); a shift acts only on the family and width it was made for"
        case .incompatibleShift(let p, let r): return "\(p): \(r)"
        case .noCrossAttention:
            return "the model has no cross-attention layers (no '*.attn2.to_k' / 'to_v' projections)"
        case .trainingImages(let p, let r): return "\(p): \(r)"
        case .output(let p, let r): return "\(p): \(r)"
        case .checkpoint(let p, let r): return "\(p): \(r)"
        case .planFile(let p, let r): return "\(p): not a usable sepme plan: \(r)"
        case .interrupted(let ckpt):
            return "interrupted" + (ckpt.map { "; the run can be resumed from its checkpoint \($0)" } ?? "")
        }
    }
}
