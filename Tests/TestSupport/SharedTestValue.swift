import Foundation

/// A value built on first use and then shared by the tests of one XCTestCase class (a loaded or
/// trained model that would be too slow to rebuild for every test).
///
/// Swift 6 rejects a stored global of a non-Sendable type such as a model. XCTest runs the tests of a
/// class one after another on the main thread, so the shared value is never used by two threads at
/// once; the lock makes the one-time build safe as well.
// @unchecked Sendable: built once under `lock`, then used only by tests that XCTest runs one at a time.
public final class SharedTestValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private let make: () -> Value
    private var stored: Value?

    public init(_ make: @escaping () -> Value) { self.make = make }

    /// The value, built by `make` on the first call.
    public var value: Value {
        lock.lock()
        defer { lock.unlock() }
        if let stored { return stored }
        let built = make()
        stored = built
        return built
    }
}
