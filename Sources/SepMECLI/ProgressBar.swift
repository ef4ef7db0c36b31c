import Foundation

/// A one-line progress bar on stderr ("label [=====>    ] 5/10 1.2 s/it"), silent with --quiet.
/// Progress output is best effort: a closed or full stderr (`2>&-`, `2>/dev/full`) loses it and
/// nothing else (see `StandardError`).
final class ProgressBar {
    private let label: String
    private let quiet: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    /// Items already done when the bar started (a resumed run), left out of the rate.
    private let offset: Int
    /// Whether a bar was drawn without its line being ended yet (a message then starts a new line).
    nonisolated(unsafe) static var lineOpen = false

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
        let filled = total > 0 ? min(width, max(0, width * min(done, total) / total)) : 0
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let rate = done > offset ? String(format: "%.2f s/it", now.timeIntervalSince(start) / Double(done - offset)) : ""
        StandardError.write("\r\(label) [\(bar)] \(done)/\(total) \(rate) \(suffix)\u{1B}[K" + (done == total ? "\n" : ""))
        Self.lineOpen = done != total
    }

    func message(_ text: String) {
        guard !quiet else { return }
        Self.endLine()
        StandardError.write(text + "\n")
    }

    /// Ends a bar's open line, so that what follows (a message, an error) starts on its own line.
    static func endLine() {
        if lineOpen { StandardError.write("\n") }
        lineOpen = false
    }
}

/// Writes to file descriptor 2 with write(2), ignoring failures: `FileHandle.standardError.write`
/// traps when the write fails (a full device, a closed descriptor), and a progress line is not worth
/// a crash. SIGPIPE is ignored in `SepME.main`, so a closed pipe is a failed write here too.
enum StandardError {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.write(2, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            done += n
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM, which batch schedulers such as Slurm send before they kill a job,
/// sets a flag that long loops poll, so they can stop at a safe point (after writing a checkpoint,
/// or before writing anything) instead of dying with half-written files. A second signal exits at
/// once (status 130).
enum Interrupt {
    // nonisolated(unsafe): process-global flags set from the signal handlers (no lock or actor may be used there).
    nonisolated(unsafe) static var requested = false
    /// The stop came from SIGTERM rather than Ctrl-C.
    nonisolated(unsafe) static var terminated = false

    /// The work stopped at a Ctrl-C or SIGTERM; `CommandFailure.reporting` prints it and exits with status 130.
    struct Stopped: Error, CustomStringConvertible {
        /// What happened to the output, e.g. "nothing was written".
        let outcome: String
        var description: String { "interrupted (\(Interrupt.terminated ? "SIGTERM" : "Ctrl-C")); \(outcome)" }
    }

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested { _exit(130) }
            Interrupt.requested = true
        }
        signal(SIGTERM) { _ in
            if Interrupt.requested { _exit(130) }
            Interrupt.terminated = true
            Interrupt.requested = true
        }
    }

    /// Throws `Stopped` once Ctrl-C was pressed.
    static func check(outcome: @autoclosure () -> String) throws {
        if requested { throw Stopped(outcome: outcome()) }
    }
}
