/// Errors of the erasure layer; each names the concept, file or argument concerned.
public enum ErasureError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    /// No null space is left for a concept: too many prompts to stay decoupled from.
    case noNullSpace(concept: String, rows: Int, rank: Int, width: Int, promptsThatFit: Int)
    case nonFiniteLoss(concept: String, iteration: Int, checkpoint: String?)
    case invalidShiftFile(path: String, reason: String)
    case fingerprintMismatch(path: String, expected: String, found: String)
    case interrupted(checkpoint: String?)

    public var description: String {
        switch self {
        case .invalidArgument(let s): return s
        case .noNullSpace(let c, let rows, let rank, let width, let fit):
            return "concept '\(c)': no null space left: its \(rows) protected embedding rows have rank \(rank) = the text width \(width); about \(fit) prompts fit in the exact mode. Use --tolerance (e.g. 1e-3) for an approximate null space with a reported leak bound, or protect fewer prompts."
        case .nonFiniteLoss(let c, let it, let ckpt):
            return "concept '\(c)': the loss became NaN/infinite at iteration \(it)" + (ckpt.map { "; the last good state is kept in \($0)" } ?? "")
        case .invalidShiftFile(let p, let r): return "\(p): not a valid sepme shift file: \(r)"
        case .fingerprintMismatch(let p, let e, let f):
            return "\(p): made for a base model with fingerprint \(e), but this model's is \(f) (use --force to apply it anyway)"
        case .interrupted(let ckpt):
            return "interrupted" + (ckpt.map { "; resume with --resume (checkpoint \($0))" } ?? "")
        }
    }
}
