import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

/// `sepme erase --plan-only` and `sepme erase --plan FILE [--index N]`: a plan written once, then
/// trained concept by concept, each index in its own process (a Slurm array task, a Kubernetes
/// Indexed Job pod) or all in one; either way each shift is the same, bit for bit.
extension EraseCommand {
    /// The environment variables a cluster scheduler sets to a task's index, in the order consulted.
    static let indexVariables = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]

    /// With --plan the plan decides everything; a flag that would change it is refused.
    func refuseFlagsWithPlan() throws {
        let given: [(String, Bool)] = [
            ("--concept", !concept.isEmpty), ("--wording", !wording.isEmpty), ("--protect", !protect.isEmpty),
            ("--decouple-from", !decoupleFrom.isEmpty), ("--decouple", decouple != nil), ("--method", method != nil), ("--variant", variant != nil),
            ("--images", images != nil), ("--images-folder", imagesFolder != nil), ("--max-iterations", maxIterations != nil),
            ("--lr", lr != nil), ("--beta", beta != nil), ("--lambda", lambdaValue != nil), ("--tau", tau != nil),
            ("--alpha", alpha != nil), ("--tolerance", tolerance != nil), ("--generation-steps", generationSteps != nil),
            ("--generation-guidance", generationGuidance != nil), ("--generation-scheduler", generationScheduler != nil),
            ("--seed", seed != nil), ("--train-size", trainSize != nil), ("--output", output != nil), ("--plan-only", planOnly),
            ("--guide", uce.guide != nil), ("--preserve", !uce.preserve.isEmpty), ("--uce-lambda", uce.lambda != nil),
            ("--erase-scale", uce.eraseScale != nil), ("--preserve-scale", uce.preserveScale != nil),
            ("--anchor", baseline.anchor != nil), ("--negative-guidance", baseline.negativeGuidance != nil),
            ("--start-guidance", baseline.startGuidance != nil)
        ]
        if let (flag, _) = given.first(where: \.1) {
            throw ValidationError("\(flag): the plan given by --plan fixes this already; write a new plan to change it")
        }
        if let index, index < 0 { throw ValidationError("--index \(index): plan indices start at 0") }
    }

    /// --index, else the scheduler's task index, else nil (every concept).
    func taskIndex(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
        if let index { return index }
        for name in Self.indexVariables {
            guard let text = environment[name] else { continue }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw ValidationError("--index: the environment variable \(name) is '\(text)', not a task index")
            }
            return value
        }
        return nil
    }

    /// Runs a plan file: every concept, or the one at the task's index, into the plan's folder.
    func runPlan(at path: String) throws {
        try CommandFailure.reporting(ErasureFlags.eraseGeneration) {
            try ErasureFlags.mapping(ErasureFlags.erase) {
                let file = try ErasurePlanFile.read(path: path)
                let index = try taskIndex()
                if let index, !file.plan.concepts.indices.contains(index) {
                    throw ValidationError(
                        "--index \(index): the plan \(path) has \(file.plan.concepts.count) concepts (indices 0...\(file.plan.concepts.count - 1))")
                }
                let shifts = try ModelLoading.shiftSet(for: file, planPath: path, path: model, config: config, quiet: verbosity.quiet)
                let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
                try ErasureRun(plan: file.plan, output: folder, resume: true, index: index, originalPrecision: precisionOption.precision)
                    .run(on: shifts, observer: observer(for: file.plan))
            }
        }
    }

    /// Writes `<folder>/plan.json` and says what it holds.
    func writePlan(_ file: ErasurePlanFile, into folder: URL) throws {
        try OutputFolder.prepare(folder)
        let path = folder.appendingPathComponent(ErasurePlanFile.fileName).path
        try file.write(to: path)
        guard !verbosity.quiet else { return }
        print("wrote \(path): \(file.plan.concepts.count) concepts, method \(file.plan.method.rawValue), variant \(file.plan.variant.rawValue)")
        for c in file.concepts {
            var line = "  [\(c.index)] \(c.concept) -> \(c.shiftFile)"
            if let ns = c.nullSpace {
                line += String(format: ", null space %d (%@)", ns.dimension, ns.mode.rawValue)
            }
            if let reach = c.conceptReach { line += String(format: ", reach %.3g", reach) }
            if let leak = c.leakBound { line += String(format: ", leak bound %.3g", leak) }
            print(line)
        }
        print("train one concept with: sepme erase --plan \(path) --index N   (or every concept: without --index)")
    }

    /// Says when the plan's null space mode differs from the one asked for, and names the concepts
    /// whose shift can reach little of their own embedding (their prompts are nearly spanned by the
    /// prompts they must leave unchanged), whose erasure will then be weak.
    func reportResolution(_ file: ErasurePlanFile, requested: ErasurePlan) {
        let bar = ProgressBar("erase", quiet: verbosity.quiet)
        if let tolerance = file.plan.hyperparameters.nullSpaceTolerance, requested.hyperparameters.nullSpaceTolerance == nil {
            bar.message(
                "the exact null space is empty for some concept (more prompts than the text width holds): using tolerance \(tolerance); each concept's leak bound is in the plan"
            )
        }
        let weak = file.concepts.filter { ($0.conceptReach ?? 1) < Self.weakReach }
        if !weak.isEmpty {
            let list = weak.prefix(4).map { String(format: "'%@' %.0f %%", $0.concept, 100 * ($0.conceptReach ?? 0)) }.joined(separator: ", ")
            bar.message(
                "\(weak.count) concepts' shifts can reach under \(Int(100 * Self.weakReach)) % of their own embedding (\(list)\(weak.count > 4 ? ", ..." : "")): their erasure will be weak; erase fewer concepts at once, protect fewer prompts, or raise --tolerance"
            )
        }
    }

    /// Below this concept reach a plan warns that the erasure will be weak.
    static let weakReach = 0.1

    func observer(for plan: ErasurePlan) -> ErasureObserver {
        ToyCommandSupport.erasureObserver(
            label: "erase", maxIterations: plan.esd?.iterations ?? plan.ca?.iterations ?? plan.hyperparameters.maxIterations,
            quiet: verbosity.quiet)
    }
}
