/// Invalid arguments to a `PyTorchGenerator` draw.
public enum RandomError: Error, Equatable, CustomStringConvertible {
    case emptyRange(low: Int64, high: Int64)
    case negativeCount(function: String, count: Int)

    public var description: String {
        switch self {
        case let .emptyRange(low, high):
            return "randint: argument 'high' (\(high)) must be greater than 'low' (\(low))"
        case let .negativeCount(function, count):
            return "\(function): argument 'count' must be >= 0, got \(count)"
        }
    }
}
