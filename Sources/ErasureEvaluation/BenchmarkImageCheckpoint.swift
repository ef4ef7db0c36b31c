import ConceptErasure
import Foundation
import ImageIO

/// Grid images generated a few prompts at a time and saved after each group
/// (`BenchmarkOriginalsFile`'s format), so that an interrupted benchmark resumes inside a grid
/// instead of at the start of the target, or of the original images, it was on. The file names
/// what made the images: the model, and for an erased model the fingerprint of its shift files, so
/// images of another erasure are never taken for these.
struct BenchmarkImageCheckpoint {
    let url: URL
    /// What made the images: the model's name, and `shiftFingerprint` of the shifts applied.
    let maker: String
    let key: BenchmarkOriginals.Key
    /// Prompts per saved group.
    var group = 24

    /// The images of every prompt in `prompts` (one pipeline call per prompt, `shifts` applied),
    /// those found in the file (when `resume`) read instead of generated.
    // prompts: [P] -> images by prompt, key.seedsPerPrompt each
    func images(
        of prompts: [String], evaluator: ConceptEvaluator, shifts: [ConceptShift], label: String, resume: Bool, observer: ErasureObserver
    ) throws -> [String: [RGBImage]] {
        let wanted = Set(prompts)
        var done =
            (resume
            ? BenchmarkOriginalsFile.read(
                at: url, model: maker, key: key, prompts: prompts, partial: true, skipped: { observer.message("\($0); not used") })
            : nil)?.filter { wanted.contains($0.key) } ?? [:]
        if !done.isEmpty, done.count < wanted.count {
            observer.message("\(label): \(done.count) of \(wanted.count) prompts' images read from \(url.path)")
        }
        let todo = prompts.filter { done[$0] == nil }
        let progress = evaluator.progress
        defer { evaluator.progress = progress }
        var start = 0
        while start < todo.count {
            let part = Array(todo[start..<min(todo.count, start + group)])
            let offset = prompts.count - todo.count + start
            evaluator.progress = progress.map { report in { what, i, _ in report(what, offset + i, prompts.count) } }
            let made = try evaluator.generate(try part.map { try EvaluationPrompt($0) }, shifts: shifts, label: label)
            for (p, im) in zip(part, made) { done[p] = im }
            start += part.count
            if start < todo.count {
                try BenchmarkOriginalsFile.write(done, prompts: prompts.filter { done[$0] != nil }, model: maker, key: key, to: url)
            }
        }
        return done
    }

    /// FNV-1a (64 bit) of the files' bytes in the given order, as hex: which shifts made a set of images.
    static func shiftFingerprint(_ paths: [String]) throws -> String {
        var h = FNV1a()
        for path in paths { h.add(try Data(contentsOf: URL(fileURLWithPath: path))) }
        return String(format: "%016llx", h.value)
    }
}
