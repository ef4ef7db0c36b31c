import ArgumentParser

/// `--quiet`: no progress bars or timing messages on stderr (results and errors are still printed).
/// Provides: `--quiet`.
struct QuietOption: ParsableArguments {
    @Flag(help: "No progress output.") var quiet = false
}
