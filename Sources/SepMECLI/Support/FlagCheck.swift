import ArgumentParser
import Foundation

/// One-line checks of command-line values for `validate()`: each throws a `ValidationError` that
/// names the flag, the value given and what is allowed, e.g. `--eta must be a finite number in
/// [0, 1], got nan`.
enum FlagCheck {
    /// `value` within `range` (integers).
    static func range<T: BinaryInteger>(_ flag: String, _ value: T, _ range: ClosedRange<T>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
    }

    /// `value` at least `minimum` (integers without a natural upper bound).
    static func atLeast<T: BinaryInteger>(_ flag: String, _ value: T, _ minimum: T) throws {
        guard value >= minimum else { throw ValidationError("\(flag) must be at least \(minimum), got \(value)") }
    }

    /// `value` finite and within `range` (NaN and infinities are refused).
    static func finite<T: BinaryFloatingPoint>(_ flag: String, _ value: T, _ range: ClosedRange<T>) throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError(
                "\(flag) must be a finite number in [\(format(range.lowerBound)), \(format(range.upperBound))], got \(format(value))")
        }
    }

    /// `value` finite and strictly above `lowerBound`, at most `upperBound`.
    static func finite<T: BinaryFloatingPoint>(_ flag: String, _ value: T, above lowerBound: T, atMost upperBound: T) throws {
        guard value.isFinite, value > lowerBound, value <= upperBound else {
            throw ValidationError("\(flag) must be a finite number in (\(format(lowerBound)), \(format(upperBound))], got \(format(value))")
        }
    }

    /// `value` finite and in the half-open `range` (e.g. a probability below 1).
    static func finite<T: BinaryFloatingPoint>(_ flag: String, _ value: T, _ range: Range<T>) throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError(
                "\(flag) must be a finite number in [\(format(range.lowerBound)), \(format(range.upperBound))), got \(format(value))")
        }
    }

    /// A non-empty value (an empty path would otherwise be resolved to the working folder).
    static func nonEmpty(_ flag: String, _ value: String) throws {
        guard !value.isEmpty else { throw ValidationError("\(flag) is empty; give a path") }
    }

    /// A file name ending in `suffix` (compared without case).
    static func suffix(_ flag: String, _ value: String, _ suffix: String) throws {
        guard value.lowercased().hasSuffix(suffix) else { throw ValidationError("\(flag) must be a \(suffix) file, got '\(value)'") }
    }

    /// A request that needs `bytes` of memory fits this machine's physical memory.
    /// `request` says what was asked, e.g. "--width/--height 4096x4096 with --batch-size 8".
    static func memory(_ request: String, bytes: Double) throws {
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes.isFinite, bytes <= available else {
            throw ValidationError("\(request) needs about \(gigabytes(bytes)) of memory; this machine has \(gigabytes(available))")
        }
    }

    static func gigabytes(_ bytes: Double) -> String {
        guard bytes.isFinite, bytes < 1e21 else { return "more than 1e12 GB" }
        return String(format: bytes >= 1e10 ? "%.0f GB" : "%.2f GB", bytes / 1e9)
    }

    /// Shortest round-trip spelling of the value as given (Float stays Float: 0.999, not 0.99900001).
    private static func format<T: BinaryFloatingPoint>(_ value: T) -> String { String(describing: value) }
}
