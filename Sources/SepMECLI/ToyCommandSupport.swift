import ArgumentParser
import ErasureEvaluation
import Foundation
import Toy

/// Shared pieces of `eval` and `demo`.
enum ToyCommandSupport {
    /// The embedded toy model's folder.
    static func bundledModelPath() throws -> String {
        guard let url = ToyModelFolder.bundled else {
            throw ValidationError("the embedded toy model is missing from the build (Sources/Toy/Resources/toy-model); pass --model")
        }
        return url.path
    }

    /// Fails early (before any work) when `folder` cannot be created or written.
    static func checkWritable(_ folder: URL) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw ValidationError("--output \(folder.path): cannot create the folder (\(error.localizedDescription))")
        }
        guard fm.isWritableFile(atPath: folder.path) else { throw ValidationError("--output \(folder.path): the folder is not writable") }
    }

    /// One progress bar per evaluated state.
    final class EvaluationBars {
        let quiet: Bool
        var bars: [String: ProgressBar] = [:]
        init(quiet: Bool) { self.quiet = quiet }
        func update(_ state: String, _ done: Int, _ total: Int) {
            let bar = bars[state] ?? ProgressBar("evaluating \(state)", quiet: quiet)
            bars[state] = bar
            bar.update(done, total)
        }
    }
}
