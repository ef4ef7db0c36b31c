import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import XCTest

/// A plan trained as a real Slurm array job: the test starts a single-node Slurm on this machine
/// (MUNGE, `slurmctld` and `slurmd` on localhost, as root, from `scripts/install-test-tools.sh`'s
/// packages), writes a 3-concept plan on the embedded model, submits `sepme cluster slurm`'s
/// script with `sbatch --wait`, and checks that every shift equals the same plan trained in one
/// process, bit for bit, and that `sepme compose` passes. The daemons are stopped afterwards.
/// Where Slurm cannot start, the test fails and says why: it never skips.
final class SlurmArrayTests: XCTestCase {
    var cluster: SingleNodeSlurm?
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-slurm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        cluster?.stop()
        try? FileManager.default.removeItem(at: scratch)
    }

    func testPlanRunsAsAnArrayJobAndMatchesOneProcess() throws {
        let slurm = try SingleNodeSlurm.start(in: scratch.appendingPathComponent("slurm"))
        cluster = slurm
        let split = scratch.appendingPathComponent("array")
        let whole = scratch.appendingPathComponent("whole")
        let concepts = ["a red circle", "a blue square", "a striped triangle"]
        let plan = try CommandLineTests.run(
            ["erase", "--protect", "zq watermark", "--plan-only", "--output", split.path, "--quiet"]
                + concepts.flatMap { ["--concept", $0] } + ["--images", "1", "--generation-steps", "3", "--max-iterations", "4"])
        XCTAssertEqual(plan.status, 0, plan.stderr)
        let planPath = split.appendingPathComponent("plan.json").path
        try FileManager.default.createDirectory(at: whole, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: planPath, toPath: whole.appendingPathComponent("plan.json").path)

        let script = try CommandLineTests.run(["cluster", "slurm", "--plan", planPath, "--quiet"])
        XCTAssertEqual(script.status, 0, script.stderr)
        let scriptPath = scratch.appendingPathComponent("job.sbatch")
        try script.stdout.write(to: scriptPath, atomically: true, encoding: .utf8)
        let submitted = try slurm.run("sbatch", ["--wait", scriptPath.path], timeout: 900)
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: split.path).filter { $0.hasPrefix("slurm-") }) ?? []
        let logText = logs.compactMap { try? String(contentsOf: split.appendingPathComponent($0), encoding: .utf8) }.joined(separator: "\n")
        XCTAssertEqual(submitted.status, 0, "sbatch --wait: \(submitted.output)\ntask logs:\n\(logText)")
        XCTAssertEqual(logs.count, 3, "one log per array task: \(logs)")

        let one = try CommandLineTests.run(["erase", "--plan", whole.appendingPathComponent("plan.json").path, "--quiet"])
        XCTAssertEqual(one.status, 0, one.stderr)
        for c in concepts {
            let name = "\(c.replacingOccurrences(of: " ", with: "-")).sepme.safetensors"
            XCTAssertEqual(
                try PlanCommandLineTests.tensorBytes(split.appendingPathComponent(name).path),
                try PlanCommandLineTests.tensorBytes(whole.appendingPathComponent(name).path), "\(c): array task and one process differ")
        }
        let composed = try CommandLineTests.run(["compose", split.path, "--quiet"])
        XCTAssertEqual(composed.status, 0, composed.stderr)
    }
}

/// MUNGE, slurmctld and slurmd for this machine alone, configured in `folder` on free ports.
struct SingleNodeSlurm {
    let folder: URL
    let environment: [String: String]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func start(in folder: URL) throws -> SingleNodeSlurm {
        guard getuid() == 0 else {
            throw Failure(description: "Slurm cannot start here: its daemons need root (this test runs as uid \(getuid()))")
        }
        for tool in ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/sinfo"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            throw Failure(description: "Slurm cannot start here: \(tool) is missing (run scripts/install-test-tools.sh)")
        }
        let munge = folder.appendingPathComponent("munge")
        for sub in ["state", "spool", "log", "run", "munge"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: munge.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let port = 20000 + Int(getpid() % 20000)
        let memoryMB = (Self.memTotalKB() ?? 4_000_000) / 1024 - 512
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let socket = munge.appendingPathComponent("munge.socket").path
        let conf = """
            ClusterName=sepmetest
            SlurmctldHost=\(host)
            SlurmctldPort=\(port)
            SlurmdPort=\(port + 1)
            AuthType=auth/munge
            AuthInfo=socket=\(socket)
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation=\(folder.path)/state
            SlurmdSpoolDir=\(folder.path)/spool
            SlurmctldPidFile=\(folder.path)/run/slurmctld.pid
            SlurmdPidFile=\(folder.path)/run/slurmd.pid
            SlurmctldLogFile=\(folder.path)/log/slurmctld.log
            SlurmdLogFile=\(folder.path)/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core_Memory
            MpiDefault=none
            ReturnToService=2
            NodeName=\(host) CPUs=\(cpus) RealMemory=\(memoryMB) State=UNKNOWN
            PartitionName=test Nodes=\(host) Default=YES MaxTime=INFINITE State=UP

            """
        let confPath = folder.appendingPathComponent("slurm.conf").path
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        let slurm = SingleNodeSlurm(folder: folder, environment: ["SLURM_CONF": confPath])
        // MUNGE runs as root on its own key (munged --force accepts root; the key must be root's, 0400).
        let key = munge.appendingPathComponent("munge.key").path
        var random = SystemRandomNumberGenerator()
        guard
            FileManager.default.createFile(
                atPath: key, contents: Data((0..<1024).map { _ in UInt8.random(in: 0...255, using: &random) }), attributes: [.posixPermissions: 0o400]
            )
        else {
            throw Failure(description: "Slurm cannot start here: cannot write the MUNGE key \(key)")
        }
        let steps: [(String, [String])] = [
            (
                "/usr/sbin/munged",
                [
                    "--force", "--key-file=\(key)", "--socket=\(socket)", "--pid-file=\(munge.path)/munged.pid",
                    "--log-file=\(munge.path)/munged.log", "--seed-file=\(munge.path)/seed"
                ]
            ),
            ("/usr/sbin/slurmctld", ["-f", confPath]),
            ("/usr/sbin/slurmd", ["-f", confPath])
        ]
        for (tool, args) in steps {
            let r = try slurm.run(tool, args, timeout: 60)
            guard r.status == 0 else {
                slurm.stop()
                throw Failure(description: "Slurm cannot start here: \(tool) exited \(r.status): \(r.output)\n\(slurm.logs())")
            }
        }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let r = try? slurm.run("sinfo", ["-h", "-o", "%T"], timeout: 20), r.status == 0, r.output.contains("idle") { return slurm }
            Thread.sleep(forTimeInterval: 1)
        }
        slurm.stop()
        throw Failure(description: "Slurm cannot start here: the node did not become idle within 60 s\n\(slurm.logs())")
    }

    /// Stops any job left and the daemons (from their pid files), waiting until they are gone.
    func stop() {
        _ = try? run("scancel", ["--user=root"], timeout: 20)
        let pids = ["run/slurmd.pid", "run/slurmctld.pid", "munge/munged.pid"].compactMap { name in
            (try? String(contentsOfFile: folder.appendingPathComponent(name).path, encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(15)
        while pids.contains(where: { kill($0, 0) == 0 }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    func logs() -> String {
        ["log/slurmctld.log", "log/slurmd.log", "munge/munged.log"].compactMap { name in
            (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)).map { "== \(name)\n\($0.suffix(2000))" }
        }.joined(separator: "\n")
    }

    /// Runs a tool (a bare name is looked up in /usr/bin) with SLURM_CONF set, killing it after
    /// `timeout` seconds. Spawned and waited for directly (posix_spawn, waitpid), output through a
    /// file: the tools that start daemons exit while their daemon keeps the inherited descriptors,
    /// which a pipe, or Foundation's Process, would keep waiting on.
    func run(_ tool: String, _ args: [String], timeout: Double) throws -> (status: Int32, output: String) {
        let log = folder.appendingPathComponent("run-\(UUID().uuidString.prefix(8)).txt").path
        defer { unlink(log) }
        let path = tool.hasPrefix("/") ? tool : "/usr/bin/\(tool)"
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0)=\($1)" }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw Failure(description: "cannot start \(path): \(String(cString: strerror(spawned)))") }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard Date() < deadline else {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return (124, "timed out after \(Int(timeout)) s")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let exited = status & 0x7f == 0
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }

    static func memTotalKB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
        return line.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
    }
}
