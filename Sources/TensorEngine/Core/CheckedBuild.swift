/// Whether this module's preconditions are evaluated: true in debug and `-O` builds, false only under
/// `-Ounchecked`, where a failed shape check would be undefined behaviour instead of a stop with a
/// message. `_isFastAssertConfiguration` is inlined here, so it reflects TensorEngine's own flags.
enum CheckedBuild {
    static var preconditionsAreLive: Bool { !_isFastAssertConfiguration() }
}
