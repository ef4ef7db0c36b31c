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

    /// FNV-1a (64 bit), as hex, of what in the shifts decides the images, in the given order: each
    /// shift's metadata without the training's wall time and the tool's version, and the tensor bytes
    /// of the file it was read from. A resumed benchmark trains a target's shift again; the same plan
    /// gives the same tensors, so the images saved before the interruption still count.
    static func shiftFingerprint(_ shifts: [ConceptShift]) throws -> String {
        var h = FNV1a()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for shift in shifts {
            guard let path = shift.sourcePath else {
                throw EvaluationError.invalidArgument("\(shift.displayName) was not read from a file, so its images cannot be checkpointed")
            }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            var metadata = shift.metadata
            metadata.training.seconds = 0
            metadata.toolVersion = ""
            h.add(try encoder.encode(metadata))
            // The tensors: what follows the safetensors header (its 8-byte length, then its JSON).
            let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
            h.add(bytes.dropFirst(min(bytes.count, 8 + headerLength)))
        }
        return String(format: "%016llx", h.value)
    }
}
