import Foundation
import XCTest

/// `erase --plan-only`, `erase --plan FILE --index N`, `compose` and `cluster slurm|k8s` through
/// the executable, on the tiny model: a plan trained index by index equals the plan trained in one
/// process, compose passes on it and fails on a shift that moves a protected prompt, and the
/// scheduler files carry the plan and valid resources (the Kubernetes one checked against the Job
/// schema by `kubernetes-validate`, which `scripts/install-test-tools.sh` installs).
final class PlanCommandLineTests: XCTestCase {
    static let model = CommandLineTests.tinySepME.path
    static let concepts = ["a red circle", "a blue square", "a green triangle"]
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-plan-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    static let settings = ["--images", "1", "--generation-steps", "2", "--max-iterations", "3", "--beta", "1e-2"]

    /// Writes a 3-concept plan (one protected prompt) into `folder`; returns plan.json's path.
    func writePlan(_ folder: URL) throws -> String {
        let r = try CommandLineTests.run(
            ["erase", "--model", Self.model, "--protect", "zq watermark", "--plan-only", "--output", folder.path, "--quiet"]
                + Self.concepts.flatMap { ["--concept", $0] } + Self.settings)
        XCTAssertEqual(r.status, 0, r.stderr)
        return folder.appendingPathComponent("plan.json").path
    }

    /// The tensor bytes of a safetensors file (everything after its JSON header).
    static func tensorBytes(_ path: String) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return data.dropFirst(8 + headerLength)
    }

    func testPlanTrainedIndexByIndexEqualsOneProcessAndComposes() throws {
        let split = scratch.appendingPathComponent("split")
        let whole = scratch.appendingPathComponent("whole")
        let plan = try writePlan(split)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plan))) as? [String: Any])
        XCTAssertEqual(json["format"] as? String, "sepme-plan")
        let concepts = try XCTUnwrap(json["concepts"] as? [[String: Any]])
        XCTAssertEqual(concepts.map { $0["concept"] as? String }, Self.concepts)
        XCTAssertTrue(concepts.allSatisfy { ($0["leak_bound"] as? Double).map { $0 < 1e-12 } ?? false }, "\(concepts)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: split.path), ["plan.json"], "nothing is trained")
        try FileManager.default.createDirectory(at: whole, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: plan, toPath: whole.appendingPathComponent("plan.json").path)

        for index in ["2", "0"] {
            let r = try CommandLineTests.run(["erase", "--plan", plan, "--index", index, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let viaEnvironment = try CommandLineTests.run(["erase", "--plan", plan, "--quiet"], environment: ["SLURM_ARRAY_TASK_ID": "1"])
        XCTAssertEqual(viaEnvironment.status, 0, viaEnvironment.stderr)
        let again = try CommandLineTests.run(["erase", "--plan", plan], environment: ["JOB_COMPLETION_INDEX": "1"])
        XCTAssertTrue(again.stderr.contains("already erased"), again.stderr)
        let all = try CommandLineTests.run(["erase", "--plan", whole.appendingPathComponent("plan.json").path, "--quiet"])
        XCTAssertEqual(all.status, 0, all.stderr)
        for c in Self.concepts {
            let name = "\(c.replacingOccurrences(of: " ", with: "-")).sepme.safetensors"
            XCTAssertEqual(
                try Self.tensorBytes(split.appendingPathComponent(name).path), try Self.tensorBytes(whole.appendingPathComponent(name).path), c)
        }

        let composed = try CommandLineTests.run(["compose", split.path])
        XCTAssertEqual(composed.status, 0, composed.stderr)
        XCTAssertTrue(composed.stdout.contains("within its plan's leak bound"), composed.stdout)
        let report = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: split.appendingPathComponent("composition.json"))) as? [String: Any])
        let interference = try XCTUnwrap(report["interference"] as? [String: Any])
        XCTAssertEqual(interference["passed"] as? Bool, true)
        let change = try XCTUnwrap(interference["relative_change"] as? [[Double]])
        XCTAssertEqual(change.count, 3)
        XCTAssertEqual(change[0].count, 5, "3 concepts, the watermark, the blank prompt")
        for i in 0..<3 {
            for j in 0..<5 where j != i { XCTAssertLessThan(change[i][j], change[i][i] * 1e-3, "shift \(i) on column \(j)") }
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: split.appendingPathComponent("composition.png").path))

        // A shift of the same concept that is not decoupled (the full variant) moves the watermark.
        let full = scratch.appendingPathComponent("full")
        let f = try CommandLineTests.run(
            ["erase", "--model", Self.model, "--concept", Self.concepts[0], "--variant", "full", "--output", full.path, "--quiet"]
                + Self.settings.dropLast(2) + ["--lr", "1e-2"])
        XCTAssertEqual(f.status, 0, f.stderr)
        let name = "a-red-circle.sepme.safetensors"
        try FileManager.default.removeItem(at: split.appendingPathComponent(name))
        try FileManager.default.copyItem(at: full.appendingPathComponent(name), to: split.appendingPathComponent(name))
        let broken = try CommandLineTests.run(["compose", split.path, "--quiet"])
        XCTAssertEqual(broken.status, 1, broken.stderr)
        XCTAssertTrue(broken.stderr.contains("zq watermark"), broken.stderr)
    }

    func testPlanFlagsAreRefusedWhereTheyMeanNothing() throws {
        let plan = try writePlan(scratch.appendingPathComponent("p"))
        try CommandLineTests.assertFails(["erase", "--plan", plan, "--concept", "x"], mentions: ["--concept", "plan"])
        try CommandLineTests.assertFails(["erase", "--plan", plan, "--tolerance", "1e-3"], mentions: ["--tolerance"])
        try CommandLineTests.assertFails(["erase", "--plan", plan, "--index", "3", "--quiet"], mentions: ["--index 3", "3 concepts"])
        try CommandLineTests.assertFails(
            ["erase", "--model", Self.model, "--concept", "x", "--index", "0", "--output", scratch.path], mentions: ["--index", "--plan"])
        try CommandLineTests.assertFails(["erase", "--model", Self.model, "--concept", "x"], mentions: ["--output"])
        let garbage = try CommandLineTests.run(["erase", "--plan", plan, "--quiet"], environment: ["SLURM_ARRAY_TASK_ID": "seven"])
        XCTAssertNotEqual(garbage.status, 0)
        XCTAssertTrue(garbage.stderr.contains("SLURM_ARRAY_TASK_ID"), garbage.stderr)
        try CommandLineTests.assertFails(["compose", scratch.path], mentions: ["plan.json"])
        try CommandLineTests.assertFails(
            ["compose", scratch.appendingPathComponent("p").path, "--quiet"], mentions: ["3 of the plan's 3 shifts are missing", "--index"])
    }

    func testSchedulerFilesCarryThePlanAndMeasuredResources() throws {
        let plan = try writePlan(scratch.appendingPathComponent("p"))
        let slurm = try CommandLineTests.run(["cluster", "slurm", "--plan", plan, "--partition", "cpu", "--parallel", "2", "--quiet"])
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        for line in ["#SBATCH --array=0-2%2", "#SBATCH --partition=cpu", "erase --plan \(plan)", "--index \"$SLURM_ARRAY_TASK_ID\""] {
            XCTAssertTrue(slurm.stdout.contains(line), "missing '\(line)' in\n\(slurm.stdout)")
        }
        let memory = try XCTUnwrap(slurm.stdout.split(separator: "\n").first { $0.hasPrefix("#SBATCH --mem=") })
        XCTAssertNotNil(Int(memory.dropFirst("#SBATCH --mem=".count).dropLast()), String(memory))
        XCTAssertTrue(slurm.stdout.contains("#SBATCH --time="), slurm.stdout)
        XCTAssertTrue(slurm.stdout.contains("s per iteration"), "the measured needs are stated")

        let k8s = try CommandLineTests.run(
            ["cluster", "k8s", "--plan", plan, "--memory", "3", "--minutes", "20", "--image", "registry.example/sepme:1", "--quiet"])
        XCTAssertEqual(k8s.status, 0, k8s.stderr)
        for line in ["completionMode: Indexed", "completions: 3", "memory: \"3Gi\"", "activeDeadlineSeconds: 1200", "\"sepme\", \"erase\""] {
            XCTAssertTrue(k8s.stdout.contains(line), "missing '\(line)' in\n\(k8s.stdout)")
        }
        let manifest = scratch.appendingPathComponent("job.yaml")
        try k8s.stdout.write(to: manifest, atomically: true, encoding: .utf8)
        let validator = try XCTUnwrap(Self.kubernetesValidate(), "kubernetes-validate is missing: run scripts/install-test-tools.sh")
        let p = Process()
        p.executableURL = validator
        p.arguments = ["--strict", manifest.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("passed"), text)
        try CommandLineTests.assertFails(["cluster", "slurm", "--plan", plan, "--cpus", "0"], mentions: ["--cpus"])
    }

    /// `.build/test-tools/bin/kubernetes-validate` (scripts/install-test-tools.sh), else one on PATH.
    static func kubernetesValidate() -> URL? {
        let local = CommandLineTests.packageRoot.appendingPathComponent(".build/test-tools/bin/kubernetes-validate")
        if FileManager.default.isExecutableFile(atPath: local.path) { return local }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("kubernetes-validate")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}
