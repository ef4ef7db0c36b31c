import Foundation

/// A one-line progress bar on stderr ("label [=====>    ] 5/10 1.2 s/it"), silent with --quiet.
final class ProgressBar {
    private let label: String
    private let quiet: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    /// Items already done when the bar started (a resumed run), left out of the rate.
    private let offset: Int

    init(_ label: String, quiet: Bool, startingAt offset: Int = 0) {
        self.label = label
        self.quiet = quiet
        self.offset = offset
    }

    func update(_ done: Int, _ total: Int, suffix: String = "") {
        guard !quiet else { return }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let width = 24
        let filled = total > 0 ? width * done / total : 0
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let rate = done > offset ? String(format: "%.2f s/it", now.timeIntervalSince(start) / Double(done - offset)) : ""
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(rate) \(suffix)\u{1B}[K".utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func message(_ text: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Ctrl-C sets a flag that long loops poll, so they can stop at a safe point (after writing a
/// checkpoint) instead of dying with half-written files. A second Ctrl-C exits at once.
enum Interrupt {
    nonisolated(unsafe) static var requested = false

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested { _exit(130) }
            Interrupt.requested = true
        }
    }
}
