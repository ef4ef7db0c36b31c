import ArgumentParser
import ConceptErasure
import ErasureEvaluation
import Foundation
import Toy

/// Shared pieces of `erase`, `eval` and `demo`.
enum ToyCommandSupport {
    /// The embedded toy model's folder.
    static func bundledModelPath() throws -> String {
        guard let url = ToyModelFolder.bundled else {
            throw ValidationError("the embedded toy model is missing from the build (Sources/Toy/Resources/toy-model); pass --model")
        }
        return url.path
    }

    /// Progress of an erase job on stderr (one bar per concept for its training images and one for
    /// its unlearning), messages, and Ctrl-C as the stop request; shared by `erase` and `demo`.
    static func erasureObserver(label: String, maxIterations: Int, quiet: Bool) -> ErasureObserver {
        let log = ProgressBar(label, quiet: quiet)
        var imageBars: [String: ProgressBar] = [:]
        var bars: [String: ProgressBar] = [:]
        var observer = ErasureObserver()
        observer.message = { log.message($0) }
        observer.images = { c, done, total in
            let bar = imageBars[c] ?? ProgressBar("images for '\(c)'", quiet: quiet)
            imageBars[c] = bar
            bar.update(done, total)
        }
        observer.iteration = { c, it, loss, m in
            let bar = bars[c] ?? ProgressBar("unlearning '\(c)'", quiet: quiet)
            bars[c] = bar
            // The baselines have no stop statistic: their iterations report no momentum.
            let suffix = m.map { String(format: "loss %.3g momentum %.3g", loss, $0) } ?? String(format: "loss %.3g", loss)
            bar.update(it, maxIterations, suffix: suffix)
        }
        Interrupt.install()
        observer.shouldStop = { Interrupt.requested }
        return observer
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
