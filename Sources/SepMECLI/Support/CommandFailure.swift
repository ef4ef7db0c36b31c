import ArgumentParser
import Diffusion
import Foundation

/// The command-line flags a command read library values from, so that an error about such a value
/// names the flag the user typed (`erase` passes `steps: "--generation-steps"`).
struct FlagNames {
    /// Denoising steps (the library's `SchedulerError.invalidStepCount`).
    var steps = "--steps"
    /// Image width and height (the library's `PipelineError.invalidSize`).
    var imageSize = "--width/--height"
    /// `GenerationOptions` names in `PipelineError.invalidOption` → flag.
    var generationOption = ["guidance": "--guidance", "eta": "--eta", "imagesPerPrompt": "--batch-size"]
}

/// An error as the user sees it: one line; ArgumentParser prints it as "Error: <line>", exit status 1.
struct CommandLineError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The one place where errors become what the user reads. Each command wraps its work:
///
///     func run() throws { try CommandFailure.reporting { ... } }
///
/// - library errors keep their own text (they name the file, key or value), except those about a
///   value that came from a flag, which are reworded to name the flag (`FlagNames`);
/// - Foundation errors (`NSCocoaErrorDomain Code=640`, "You don't have permission.") become the
///   path and the POSIX reason (`out.png: No space left on device`);
/// - a `ValidationError` thrown while running is one line with exit status 1 (no usage text);
/// - a stop requested with Ctrl-C (`Interrupt.Stopped`, or a library's `CancellationError` after
///   Ctrl-C) prints its line and exits with status 130;
/// - every message is one line, control characters escaped.
enum CommandFailure {
    static func reporting<T>(_ flags: FlagNames = FlagNames(), _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            ProgressBar.endLine()
            throw mapped(error, flags)
        }
    }

    private static func mapped(_ error: Error, _ flags: FlagNames) -> Error {
        switch error {
        case let exit as ExitCode:
            return exit
        case let stop as Interrupt.Stopped:
            StandardError.write("Error: \(TerminalText.line(stop.description))\n")
            return ExitCode(130)
        case is CancellationError where Interrupt.requested:
            // A library loop polled the stop flag (`ConceptEvaluator.shouldStop`) between prompts.
            return mapped(Interrupt.Stopped(outcome: "stopped between prompts; what was saved before is kept"), flags)
        default:
            return CommandLineError(TerminalText.line(message(for: error, flags: flags)))
        }
    }

    /// The readable text of `error` (before it is made one line).
    static func message(for error: Error, flags: FlagNames = FlagNames()) -> String {
        switch error {
        case let e as CommandLineError: return e.description
        case let e as ValidationError: return e.message
        case SchedulerError.invalidStepCount(let requested, let maximum, let trainTimesteps):
            let why =
                maximum == trainTimesteps
                ? "the model's training timesteps"
                : "the most the model's \(trainTimesteps) training timesteps allow with its steps_offset"
            return "\(flags.steps): \(requested) must be between 1 and \(maximum) (\(why))"
        case PipelineError.invalidSize:
            return "\(flags.imageSize): \(error)"
        case PipelineError.invalidOption(let name, let value, let allowed):
            guard let flag = flags.generationOption[name] else { break }
            return "\(flag): \(value) is not allowed (expected \(allowed))"
        default: break
        }
        if let foundation = foundationMessage(error) { return foundation }
        return String(describing: error)
    }

    /// "path: reason" for a Foundation (NSError / CocoaError / POSIXError) error, nil for other errors.
    static func foundationMessage(_ error: Error) -> String? {
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let isFoundation = error is CocoaError || type(of: error) is NSError.Type
        guard isFoundation else { return nil }
        let ns = error as NSError
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        let reason: String
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            reason = String(cString: strerror(Int32(underlying.code)))
        } else if ns.domain == NSPOSIXErrorDomain {
            reason = String(cString: strerror(Int32(ns.code)))
        } else {
            reason = cocoaReason(ns.code)
        }
        return path.map { "\($0): \(reason)" } ?? reason
    }

    /// The POSIX wording of the Cocoa file error codes Foundation throws without an underlying errno.
    private static func cocoaReason(_ code: Int) -> String {
        switch code {
        case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileReadNoSuchFile.rawValue: return String(cString: strerror(ENOENT))
        case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue: return String(cString: strerror(EACCES))
        case CocoaError.fileWriteOutOfSpace.rawValue: return String(cString: strerror(ENOSPC))
        case CocoaError.fileWriteFileExists.rawValue: return String(cString: strerror(EEXIST))
        case CocoaError.fileWriteVolumeReadOnly.rawValue: return String(cString: strerror(EROFS))
        case CocoaError.fileReadTooLarge.rawValue: return String(cString: strerror(EFBIG))
        case CocoaError.fileReadInapplicableStringEncoding.rawValue, CocoaError.fileWriteInapplicableStringEncoding.rawValue:
            return "not valid UTF-8 text"
        case CocoaError.fileReadCorruptFile.rawValue: return "unreadable or corrupt file"
        case CocoaError.propertyListReadCorrupt.rawValue: return "not valid JSON"
        default: return String(cString: strerror(EIO))
        }
    }
}
