/// Whether operations record gradient history. Off inside `withNoGrad`, per task/thread.
public enum GradMode {
    @TaskLocal static var disabled = false

    /// True when operations should record history for inputs that need gradients.
    public static var isEnabled: Bool { !disabled }

    /// Runs `body` without recording gradient history (inference, the frozen model's predictions).
    public static func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
        try $disabled.withValue(true) { try body() }
    }
}
