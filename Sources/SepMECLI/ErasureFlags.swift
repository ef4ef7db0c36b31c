import ArgumentParser
import ConceptErasure
import ErasureEvaluation

/// The flags behind the erasure and evaluation layers' setting keys, so that a library error about
/// a value ("beta is 1e+30, expected (0, 1]") reaches the user as an error about the flag that
/// set it ("--beta: 1e+30 is out of range, expected (0, 1]").
enum ErasureFlags {
    /// Setting key → flag, for `erase` (and the demo, whose flags share these names).
    static let erase: [String: String] = [
        "lr": "--lr", "alpha": "--alpha", "beta": "--beta", "lambda": "--lambda", "tau": "--tau",
        "max_iterations": "--max-iterations", "min_iterations": "--max-iterations", "images": "--images",
        "generation_steps": "--generation-steps", "generation_guidance": "--generation-guidance",
        "tolerance": "--tolerance", "index": "--index", "train_size": "--train-size"
    ].merging(UCEFlags.flags) { a, _ in a }.merging(BaselineFlags.flags) { a, _ in a }
    /// The pipeline's own checks while `erase` generates its training images (`CommandFailure`).
    static let eraseGeneration = FlagNames(
        steps: "--generation-steps", imageSize: "--train-size",
        generationOption: ["guidance": "--generation-guidance"])
    /// Evaluation setting key → flag for `eval`.
    static let eval: [String: String] = ["images_per_prompt": "--seeds", "steps": "--steps", "guidance": "--guidance"]
    /// The demo: its sampling flags set both the training images and the evaluation.
    static let demo: [String: String] = erase.merging([
        "images_per_prompt": "--seeds", "steps": "--steps", "guidance": "--guidance",
        "generation_steps": "--steps", "generation_guidance": "--guidance"
    ]) { _, new in new }

    /// Plan field → flag.
    static let planFlags = [
        "concepts": "--concept", "concept_prompts": "--wording", "protected": "--protect", "decouple_from": "--decouple-from",
        "decoupling": "--decouple",
        "shifts": "--shift",
        "variant": "--variant", "images_folder": "--images-folder"
    ].merging(UCEFlags.flags) { a, _ in a }.merging(BaselineFlags.flags) { a, _ in a }

    /// Runs `body`, turning range errors of the erasure and evaluation layers into validation
    /// errors that name the flag from `flags`, and a few others into the flag the user can change.
    static func mapping<T>(_ flags: [String: String], _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ErasureError {
            switch e {
            case .outOfRange(let key, let value, let allowed):
                throw ValidationError("\(flags[key] ?? key): \(value) is out of range, expected \(allowed)")
            case .invalidPlan(let field, let reason):
                throw ValidationError("\(planFlags[field] ?? field): \(reason)")
            case .fingerprintMismatch:
                throw ValidationError("\(e) (--force)")
            case .noNullSpace:
                throw ValidationError("\(e) (--tolerance)")
            case .interrupted(let checkpoint?):
                throw Interrupt.Stopped(outcome: "rerun the same command with --resume to continue from \(checkpoint)")
            case .interrupted(nil):
                throw Interrupt.Stopped(outcome: "no shift was written; a rerun reuses the training images made so far")
            default: throw e
            }
        } catch let e as EvaluationError {
            if case .outOfRange(let key, let value, let allowed) = e {
                throw ValidationError("\(flags[key] ?? key): \(value) is out of range, expected \(allowed)")
            }
            throw e
        }
    }
}
