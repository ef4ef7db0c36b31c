import ArgumentParser
import ConceptErasure
import Foundation

/// `sepme cluster slurm|k8s --plan DIR/plan.json`: prints the job that trains a plan one concept
/// per task on the scheduler a site already runs: a Slurm array job (`ClusterSlurmCommand`) or a
/// Kubernetes Indexed Job (`ClusterKubernetesCommand`). Each task runs
/// `sepme erase --plan FILE --index N` (the index from the scheduler's environment), which is
/// idempotent and resumes an interrupted index; `sepme compose DIR` checks the set afterwards.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Print a Slurm array job or a Kubernetes Indexed Job that trains a plan one concept per task.",
        subcommands: [ClusterSlurmCommand.self, ClusterKubernetesCommand.self])
}

/// The options both schedulers share, and the measured needs of one task.
struct ClusterJobOptions: ParsableArguments {
    @Option(help: "The plan written by 'sepme erase --plan-only'.") var plan: String
    @Option(help: "The sepme executable the tasks run (default: slurm: this one; k8s: sepme on the image's PATH).") var sepme: String?
    @Option(help: "Model path the tasks load (default: the plan's).") var model: String?
    @Option(help: ModelOptions.configHelp) var config: String?
    @Option(help: "CPU cores per task (default: the cores of this machine, where the needs are measured).") var cpus: Int?
    @Option(help: "Memory per task in GiB (default: measured peak plus half).") var memory: Int?
    @Option(help: "Time limit per task in minutes (default: from the measured iteration and sampling times).") var minutes: Int?
    @Option(help: "At most this many tasks at once (default: all).") var parallel: Int?
    @OptionGroup var verbosity: QuietOption

    func validate() throws {
        try FlagCheck.nonEmpty("--plan", plan)
        if let sepme { try FlagCheck.nonEmpty("--sepme", sepme) }
        if let model { try FlagCheck.nonEmpty("--model", model) }
        if let config { try FlagCheck.nonEmpty("--config", config) }
        if let cpus { try FlagCheck.range("--cpus", cpus, 1...4096) }
        if let memory { try FlagCheck.range("--memory", memory, 1...65536) }
        if let minutes { try FlagCheck.range("--minutes", minutes, 1...525_600) }
        if let parallel { try FlagCheck.range("--parallel", parallel, 1...100_000) }
    }

    /// What a job needs to be written: the plan, its absolute paths, and each task's resources.
    struct Job {
        let file: ErasurePlanFile
        let planPath: String
        let folder: String
        let executable: String
        let model: String
        let config: String?
        let cpus: Int
        let memoryGiB: Int
        let seconds: Int
        let estimate: ErasureCostEstimate?
        var tasks: Int { file.plan.concepts.count }
        /// A name schedulers accept: lower-case letters, digits and '-', from the plan's folder.
        var name: String {
            let base = URL(fileURLWithPath: folder).lastPathComponent.lowercased()
            let cleaned = String(base.map { $0.isLetter && $0.isASCII || $0.isNumber ? $0 : "-" }).trimmingCharacters(
                in: CharacterSet(charactersIn: "-"))
            return "sepme-" + String((cleaned.isEmpty ? "plan" : cleaned).prefix(40))
        }
        /// A task's command: its index given, or (nil) read by sepme from the scheduler's environment.
        func command(index: String?) -> [String] {
            [executable, "erase", "--plan", planPath, "--model", model] + (config.map { ["--config", $0] } ?? [])
                + (index.map { ["--index", $0] } ?? []) + ["--quiet"]
        }
    }

    /// Reads the plan and measures a task's needs on this machine unless every resource is given.
    func job(defaultExecutable: String? = nil) throws -> Job {
        try CommandFailure.reporting(ErasureFlags.eraseGeneration) {
            try ErasureFlags.mapping(ErasureFlags.erase) {
                let planPath = URL(fileURLWithPath: plan).standardizedFileURL.path
                let file = try ErasurePlanFile.read(path: planPath)
                let (modelPath, configPath) = ModelLoading.reference(of: file, path: model, config: config)
                var estimate: ErasureCostEstimate?
                if memory == nil || minutes == nil {
                    let set = try ModelLoading.shiftSet(for: file, planPath: planPath, path: modelPath, config: configPath, quiet: verbosity.quiet)
                    ProgressBar("cluster", quiet: verbosity.quiet).message("measuring one task's needs on this machine")
                    estimate = try ErasureCostEstimate.measure(plan: file.plan, model: set)
                }
                let cores = cpus ?? estimate?.measuredThreads ?? ProcessInfo.processInfo.activeProcessorCount
                let seconds = minutes.map { $0 * 60 } ?? Int((estimate?.timeLimitSeconds(threads: cores) ?? 3600).rounded(.up))
                return Job(
                    file: file, planPath: planPath, folder: URL(fileURLWithPath: planPath).deletingLastPathComponent().path,
                    executable: sepme ?? defaultExecutable ?? Self.currentExecutable(), model: modelPath, config: configPath, cpus: cores,
                    memoryGiB: memory ?? estimate?.memoryGiB ?? 8, seconds: seconds, estimate: estimate)
            }
        }
    }

    /// The running executable's absolute path.
    static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// A comment block stating where the resources come from.
    static func provenance(_ job: Job, prefix: String) -> [String] {
        var lines = [
            "\(prefix) sepme plan \(job.planPath): \(job.tasks) concepts, method \(job.file.plan.method.rawValue), variant \(job.file.plan.variant.rawValue)"
        ]
        if let e = job.estimate {
            lines.append(
                String(
                    format: "\(prefix) measured here on %d threads: %.3g s per sampling step, %.3g s per iteration, peak memory %.2f GiB",
                    e.measuredThreads, e.secondsPerGenerationStep, e.secondsPerIteration, Double(e.peakResidentBytes) / Double(1 << 30)))
            lines.append("\(prefix) per task: \(e.generationSteps) sampling steps and \(e.iterations) iterations at most")
        }
        lines.append("\(prefix) afterwards: \(job.executable) compose \(job.folder)")
        return lines
    }
}
