/// Errors of `sepme eval` / `sepme demo`; each names the argument, file or concept at fault.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    case unknownConcept(String, known: [String])
    case notWritable(String, reason: String)

    public var description: String {
        switch self {
        case .invalidArgument(let s): return s
        case .unknownConcept(let c, let known):
            return "unknown concept '\(c)': the toy classifier scores prompts that name a shape, colour or style (\(known.joined(separator: ", "))), the watermark prompt or the blank prompt \"\""
        case .notWritable(let p, let r): return "\(p): output folder is not writable (\(r))"
        }
    }
}
