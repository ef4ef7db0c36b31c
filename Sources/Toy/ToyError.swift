/// A toy classifier or tokenizer file that cannot be read or written; the message names it and says why.
public struct ToyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
