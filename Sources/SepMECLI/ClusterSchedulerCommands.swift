import ArgumentParser
import Foundation

/// `sepme cluster slurm`: an `sbatch` script for an array job, one concept of the plan per task.
struct ClusterSlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm", abstract: "Print an sbatch script: an array job, one concept of the plan per task.")

    @OptionGroup var options: ClusterJobOptions
    @Option(help: "Slurm partition (default: the cluster's default).") var partition: String?
    @Option(help: "Slurm account to charge (default: the user's default).") var account: String?

    func validate() throws {
        if let partition { try FlagCheck.nonEmpty("--partition", partition) }
        if let account { try FlagCheck.nonEmpty("--account", account) }
    }

    func run() throws { print(Self.script(try options.job(), partition: partition, account: account, parallel: options.parallel), terminator: "") }

    /// The script; tasks write their logs next to the plan.
    static func script(_ job: ClusterJobOptions.Job, partition: String?, account: String?, parallel: Int?) -> String {
        let seconds = max(60, job.seconds)
        let time = String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
        var lines = ["#!/bin/bash"]
        lines.append("#SBATCH --job-name=\(job.name)")
        lines.append("#SBATCH --array=0-\(job.tasks - 1)" + (parallel.map { "%\($0)" } ?? ""))
        lines.append("#SBATCH --cpus-per-task=\(job.cpus)")
        lines.append("#SBATCH --mem=\(job.memoryGiB)G")
        lines.append("#SBATCH --time=\(time)")
        lines.append("#SBATCH --output=\(job.folder)/slurm-%A_%a.out")
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let account { lines.append("#SBATCH --account=\(account)") }
        lines += ClusterJobOptions.provenance(job, prefix: "#")
        lines.append("set -euo pipefail")
        lines.append("export OPENBLAS_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-\(job.cpus)}\"")
        let marker = "\u{0}"
        let words = job.command(index: marker).map { $0 == marker ? "\"$SLURM_ARRAY_TASK_ID\"" : shellQuoted($0) }
        lines.append("exec " + words.joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `sepme cluster k8s`: a Kubernetes Indexed Job manifest, one concept of the plan per completion
/// index, the plan's folder on a shared volume mounted at the same path in every pod.
struct ClusterKubernetesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8s", abstract: "Print a Kubernetes Indexed Job manifest: one concept of the plan per completion index.")

    @OptionGroup var options: ClusterJobOptions
    @Option(help: "Container image holding the sepme executable.") var image: String = "sepme:latest"
    @Option(help: "PersistentVolumeClaim holding the plan's folder and the model.") var claim: String = "sepme-work"
    @Option(help: "Where the claim is mounted in each pod (the plan and model paths must lie under it).") var mountPath: String?

    func validate() throws {
        try FlagCheck.nonEmpty("--image", image)
        try FlagCheck.nonEmpty("--claim", claim)
        if let mountPath { try FlagCheck.nonEmpty("--mount-path", mountPath) }
    }

    func run() throws {
        let job = try options.job(defaultExecutable: "sepme")
        let mount = mountPath ?? URL(fileURLWithPath: job.folder).deletingLastPathComponent().path
        print(Self.manifest(job, image: image, claim: claim, mountPath: mount, parallel: options.parallel), terminator: "")
    }

    /// The manifest as YAML (every string quoted as JSON, which YAML reads as is).
    static func manifest(_ job: ClusterJobOptions.Job, image: String, claim: String, mountPath: String, parallel: Int?) -> String {
        func q(_ s: String) -> String {
            let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        }
        // sepme reads the task's index from JOB_COMPLETION_INDEX, which an Indexed Job sets in each pod.
        let command = job.command(index: nil).map(q).joined(separator: ", ")
        let lines =
            ClusterJobOptions.provenance(job, prefix: "#") + [
                "apiVersion: batch/v1",
                "kind: Job",
                "metadata:",
                "  name: \(q(job.name))",
                "spec:",
                "  completionMode: Indexed",
                "  completions: \(job.tasks)",
                "  parallelism: \(min(parallel ?? job.tasks, job.tasks))",
                "  backoffLimit: \(2 * job.tasks)",
                "  template:",
                "    spec:",
                "      restartPolicy: Never",
                "      activeDeadlineSeconds: \(max(60, job.seconds))",
                "      containers:",
                "        - name: sepme",
                "          image: \(q(image))",
                "          command: [\(command)]",
                "          env:",
                "            - name: OPENBLAS_NUM_THREADS",
                "              value: \(q(String(job.cpus)))",
                "          resources:",
                "            requests:",
                "              cpu: \(q(String(job.cpus)))",
                "              memory: \(q("\(job.memoryGiB)Gi"))",
                "            limits:",
                "              memory: \(q("\(job.memoryGiB)Gi"))",
                "          volumeMounts:",
                "            - name: work",
                "              mountPath: \(q(mountPath))",
                "      volumes:",
                "        - name: work",
                "          persistentVolumeClaim:",
                "            claimName: \(q(claim))"
            ]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `s` quoted for a POSIX shell (single quotes; an embedded one closed, escaped and reopened).
func shellQuoted(_ s: String) -> String {
    if !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-=:+,".contains($0)) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
