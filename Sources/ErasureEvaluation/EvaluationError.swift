/// Errors of the evaluation and the demo; each names the setting, prompt, file or concept at
/// fault, never a command-line flag (the CLI maps settings to its flags).
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    /// A setting outside its range, by its report key ("images_per_prompt", "guidance", ...).
    case outOfRange(key: String, value: String, allowed: String)
    /// The prompts to evaluate are not usable (none, or one listed twice).
    case invalidPrompts(String)
    case invalidArgument(String)
    case unknownConcept(String, known: [String])

    public var description: String {
        switch self {
        case .outOfRange(let key, let value, let allowed): return "\(key) is \(value), expected \(allowed)"
        case .invalidPrompts(let s): return s
        case .invalidArgument(let s): return s
        case .unknownConcept(let c, let known):
            return
                "unknown concept '\(c)': the toy classifier scores prompts that name a shape, colour or style (\(known.joined(separator: ", "))), the watermark prompt or the blank prompt \"\""
        }
    }
}
