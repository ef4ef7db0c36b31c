import Foundation
import XCTest

/// Issue 12 through the CLI: absurd, non-finite and huge flag values end in one named error line
/// (never a trap, never an allocation the machine cannot hold); a full or closed stderr or stdout
/// costs the progress output and nothing else; outputs that would overwrite each other are refused.
final class ReliabilityCommandLineTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-reliability-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private var model: String { CommandLineTests.tinySD.path }
    private var output: String { scratch.appendingPathComponent("out.png").path }

    /// Runs `sepme args` through /bin/sh with `redirection` (e.g. "2>/dev/full"); the exit status, and
    /// whether it ended by a signal.
    private func runRedirected(_ args: [String], _ redirection: String) throws -> (status: Int32, signalled: Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$0\" \"$@\" \(redirection)", CommandLineTests.executable.path] + args
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal)
    }

    /// Fails unless `args` exits non-zero by itself (no signal) with one "Error:" line holding every
    /// needle, leaving the scratch folder as it was.
    private func assertRefused(_ args: [String], mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted()
        let r = try CommandLineTests.run(args)
        XCTAssertTrue(
            r.status == 1 || r.status == 64, "expected exit 1 or 64 (not a signal): \(r.status) for \(args)\n\(r.stderr)",
            file: file, line: line)
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(errors.count, 1, "one error line expected: \(r.stderr)", file: file, line: line)
        for n in needles { XCTAssertTrue(r.stderr.contains(n), "error should mention '\(n)': \(r.stderr)", file: file, line: line) }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(), before, "nothing may be written",
            file: file, line: line)
    }

    private func generate(_ extra: [String]) -> [String] {
        ["generate", "--model", model, "--prompt", "a red circle", "--output", output] + extra
    }

    func testGenerateRefusesAbsurdAndNonFiniteNumbers() throws {
        try assertRefused(generate(["--steps", "0"]), mentions: ["--steps", "0"])
        try assertRefused(generate(["--steps", "100000000"]), mentions: ["--steps", "100000000"])
        try assertRefused(generate(["--guidance", "nan"]), mentions: ["--guidance", "nan"])
        try assertRefused(generate(["--guidance", "inf"]), mentions: ["--guidance", "inf"])
        try assertRefused(generate(["--guidance=-1"]), mentions: ["--guidance", "-1"])
        try assertRefused(generate(["--eta", "nan"]), mentions: ["--eta", "nan", "[0.0, 1.0]"])
        try assertRefused(generate(["--eta", "1e30"]), mentions: ["--eta"])
        try assertRefused(generate(["--width", "0"]), mentions: ["--width", "0"])
        try assertRefused(generate(["--width", "100000", "--height", "100000"]), mentions: ["--width", "100000"])
        try assertRefused(generate(["--height", "2147483648"]), mentions: ["--height"])
        try assertRefused(generate(["--batch-size", "4611686018427387904"]), mentions: ["--batch-size", "4611686018427387904"])
        try assertRefused(generate(["--seed=-1"]), mentions: ["--seed"])
    }

    /// Within every per-flag bound but more than any machine holds: refused with the estimate and
    /// this machine's memory, before the model is read.
    func testGenerateRefusesARequestLargerThanMemory() throws {
        try assertRefused(
            generate(["--width", "16384", "--height", "16384", "--batch-size", "4096"]),
            mentions: ["--width/--height 16384x16384", "--batch-size 4096", "needs about", "this machine has"])
    }

    /// The steps bound of the model (its training timesteps) is named by the flag it came from.
    func testStepsBeyondTheModelsTimestepsNameTheFlag() throws {
        try assertRefused(generate(["--steps", "5000"]), mentions: ["--steps: 5000", "training timesteps"])
    }

    func testEmptyModelIsReportedAsEmpty() throws {
        try assertRefused(["generate", "--model", "", "--prompt", "x", "--output", output], mentions: ["--model", "empty"])
    }

    func testLatentsOutEqualToOutputIsRefused() throws {
        try assertRefused(generate(["--latents-out", output]), mentions: ["--latents-out", "--output", "same file"])
        let sub = scratch.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try assertRefused(generate(["--latents-out", sub.path + "/../out.png"]), mentions: ["same file"])
        try assertRefused(generate(["--latents-out", scratch.path + "/./out.png"]), mentions: ["same file"])
    }

    /// An output that cannot be created is refused before any work, with the POSIX reason and never
    /// Foundation's wording ("The operation could not be completed", NSCocoaErrorDomain).
    func testUnwritableOutputIsRefusedUpFrontWithThePOSIXReason() throws {
        let missing = scratch.appendingPathComponent("no/such/folder/out.png").path
        try assertRefused(
            ["generate", "--model", model, "--prompt", "x", "--output", missing],
            mentions: ["--output", missing, "No such file or directory"])
        let file = scratch.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        try assertRefused(["toy-samples", "--output", file.path + "/s.png"], mentions: ["--output", "is not a folder"])
        try assertRefused(generate(["--latents-out", scratch.path]), mentions: ["--latents-out", "is a folder"])
        // /proc refuses new files even to root.
        let r = try CommandLineTests.run(["generate", "--model", model, "--prompt", "x", "--output", "/proc/sepme-test.png"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("--output /proc/sepme-test.png: cannot create a file in /proc:"), r.stderr)
        for foundationWording in ["NSCocoaErrorDomain", "could not be completed", "You don't have permission"] {
            XCTAssertFalse(r.stderr.contains(foundationWording), r.stderr)
        }
    }

    /// A prompt file that is a FIFO (a read would block forever), a folder or not UTF-8 is refused at
    /// once; a Foundation error while writing (toy-vocab into /proc) is the path and the POSIX reason.
    func testPromptFileKindsAndFoundationErrors() throws {
        let fifo = scratch.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try assertRefused(["generate", "--model", model, "--prompt-file", fifo, "--output", output], mentions: [fifo, "not a regular file"])
        try assertRefused(["generate", "--model", model, "--prompt-file", scratch.path, "--output", output], mentions: ["not a regular file"])
        let latin1 = scratch.appendingPathComponent("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: latin1)
        try assertRefused(["generate", "--model", model, "--prompt-file", latin1.path, "--output", output], mentions: [latin1.path, "UTF-8"])
        let r = try CommandLineTests.run(["toy-vocab", "--output", "/proc/sepme-vocab"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("/proc/sepme-vocab"), r.stderr)
        for foundationWording in ["NSCocoaErrorDomain", "could not be completed", "You don't have permission", "Code="] {
            XCTAssertFalse(r.stderr.contains(foundationWording), r.stderr)
        }
    }

    /// Ctrl-C during denoising stops at the next step: status 130, one line, no output file.
    func testInterruptStopsGenerationCleanly() throws {
        try assertGenerationStops(on: SIGINT, saying: "Ctrl-C")
    }

    /// SIGTERM (a batch scheduler's warning before it kills a job) stops like Ctrl-C, and says so.
    func testTerminationSignalStopsGenerationCleanly() throws {
        try assertGenerationStops(on: SIGTERM, saying: "SIGTERM")
    }

    /// Generation sent `signal` while denoising: status 130, the one line naming `name`, no file.
    private func assertGenerationStops(on signal: Int32, saying name: String) throws {
        let latents = scratch.appendingPathComponent("l.safetensors").path
        let r = try runSignalled(generate(["--steps", "900", "--latents-out", latents]), after: "denoising", signal: signal)
        XCTAssertEqual(r.reason, .exit, r.stderr)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }, ["Error: interrupted (\(name)); nothing was written"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [])
    }

    /// Ctrl-C while the benchmark generates its grid stops between prompts: status 130 and the
    /// interruption's line, not the library's `CancellationError`.
    func testInterruptStopsBenchmarkGenerationCleanly() throws {
        let r = try runSignalled(
            ["benchmark", "--original-only", "--seeds", "16", "--output", scratch.appendingPathComponent("bench").path],
            after: "evaluating original", signal: SIGINT)
        XCTAssertEqual(r.reason, .exit, r.stderr)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(
            r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") },
            ["Error: interrupted (Ctrl-C); stopped between prompts; what was saved before is kept"])
    }

    /// Runs sepme with `arguments`, sends `signal` once its stderr shows `marker` (its first
    /// progress line), and waits for it to end: how it ended and everything it wrote to stderr.
    private func runSignalled(
        _ arguments: [String], after marker: String, signal: Int32
    ) throws -> (reason: Process.TerminationReason, status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = CommandLineTests.executable
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        try p.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains(marker) {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        kill(p.processIdentifier, signal)
        seen.append(err.fileHandleForReading.readDataToEndOfFile())
        p.waitUntilExit()
        return (p.terminationReason, p.terminationStatus, String(decoding: seen, as: UTF8.self))
    }

    /// Progress to a full or closed stderr, results to a closed stdout: the run completes (status 0)
    /// and its files are written.
    func testFullOrClosedStandardStreamsDoNotKillTheRun() throws {
        for redirection in ["2>/dev/full", "2>&-", "2>/dev/full >/dev/full"] {
            try? FileManager.default.removeItem(atPath: output)
            let r = try runRedirected(generate(["--steps", "2"]), redirection)
            XCTAssertFalse(r.signalled, "killed by a signal with \(redirection)")
            XCTAssertEqual(r.status, 0, redirection)
            XCTAssertTrue(FileManager.default.fileExists(atPath: output), redirection)
        }
        // stdout a pipe whose reader is gone: SIGPIPE is ignored, so the write fails instead of the
        // process dying (status 141 from the shell).
        let sheet = scratch.appendingPathComponent("sheet.png").path
        let status = scratch.appendingPathComponent("status").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [
            "-c", "( \"$0\" toy-samples --count 64 --output \"$1\"; echo $? > \"$2\" ) | true",
            CommandLineTests.executable.path, sheet, status
        ]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(try String(contentsOfFile: status, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertTrue(FileManager.default.fileExists(atPath: sheet))
    }

    /// A prompt file is generated 8 prompts per call, group k with seed + k: the 9th prompt of a file
    /// has exactly the latents of that prompt alone with --seed 1, and every prompt gets a sheet row.
    func testPromptFileIsGeneratedInGroups() throws {
        let prompts = (0..<9).map { "a shape number \($0)" }
        let file = scratch.appendingPathComponent("prompts.txt")
        try Data(prompts.joined(separator: "\n").utf8).write(to: file)
        let all = scratch.appendingPathComponent("all.safetensors")
        let one = scratch.appendingPathComponent("one.safetensors")
        let sheet = scratch.appendingPathComponent("all.png")
        let a = try CommandLineTests.run([
            "generate", "--model", model, "--prompt-file", file.path, "--steps", "2", "--quiet",
            "--output", sheet.path, "--latents-out", all.path
        ])
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try CommandLineTests.run([
            "generate", "--model", model, "--prompt", prompts[8], "--seed", "1", "--steps", "2", "--quiet",
            "--output", scratch.appendingPathComponent("one.png").path, "--latents-out", one.path
        ])
        XCTAssertEqual(b.status, 0, b.stderr)
        let (allShape, allValues) = try Self.floats(all)
        let (oneShape, oneValues) = try Self.floats(one)
        XCTAssertEqual(allShape[0], 9)
        XCTAssertEqual(Array(allShape.dropFirst()), Array(oneShape.dropFirst()))
        let per = oneValues.count
        XCTAssertEqual(Array(allValues[(8 * per)..<(9 * per)]), oneValues)
        XCTAssertNotEqual(Array(allValues[0..<per]), oneValues)
        let (w, h) = try Self.pngSize(sheet)
        let (w1, h1) = try Self.pngSize(scratch.appendingPathComponent("one.png"))
        XCTAssertEqual(w, w1)
        XCTAssertEqual(h, 9 * h1 + 8 * 2)
    }

    func testToySamplesBoundsCountStartAndColumns() throws {
        let sheet = scratch.appendingPathComponent("s.png").path
        try assertRefused(["toy-samples", "--count", "10000000", "--output", sheet], mentions: ["--count", "10000000"])
        try assertRefused(["toy-samples", "--start", "9223372036854775807", "--output", sheet], mentions: ["--start"])
        try assertRefused(["toy-samples", "--start", "9223372036854775744", "--count", "64", "--output", sheet], mentions: ["--start"])
        try assertRefused(["toy-samples", "--columns", "9223372036854775807", "--output", sheet], mentions: ["--columns"])
        try assertRefused(["toy-samples", "--count", "0", "--output", sheet], mentions: ["--count"])
        // The largest start still allowed works (no overflow in start + index).
        let r = try CommandLineTests.run(["toy-samples", "--start", "9223372036854775805", "--count", "2", "--output", sheet])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").map { $0.split(separator: "\t")[0] }, ["9223372036854775805", "9223372036854775806"])
    }

    /// `classify` scores a sheet in batches: a 600-picture sheet (three batches) reads each picture as
    /// a sheet of only its first 12 pictures does.
    func testClassifyStreamsALargeSheet() throws {
        let big = scratch.appendingPathComponent("big.png")
        let small = scratch.appendingPathComponent("small.png")
        XCTAssertEqual(try CommandLineTests.run(["toy-samples", "--seed", "3", "--count", "600", "--columns", "30", "--output", big.path]).status, 0)
        XCTAssertEqual(try CommandLineTests.run(["toy-samples", "--seed", "3", "--count", "12", "--columns", "12", "--output", small.path]).status, 0)
        let r = try CommandLineTests.run(["classify", "--json", big.path])
        let s = try CommandLineTests.run(["classify", "--json", small.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        let smallLines = s.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 600)
        XCTAssertEqual(smallLines.count, 12)
        for (i, line) in lines.enumerated() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object["picture"] as? Int, i)
        }
        for i in 0..<12 {
            XCTAssertEqual(lines[i].replacingOccurrences(of: big.path, with: "f"), smallLines[i].replacingOccurrences(of: small.path, with: "f"))
        }
        try assertRefused(["classify", "--gap", "9223372036854775807", small.path], mentions: ["--gap"])
    }

    func testBenchAndTrainingFlagsAreBounded() throws {
        try assertRefused(["bench", "unet", "--size", "0"], mentions: ["--size"])
        try assertRefused(["bench", "unet", "--size", "100000"], mentions: ["--size", "100000"])
        try assertRefused(["bench", "unet", "--batch", "4611686018427387904"], mentions: ["--batch"])
        try assertRefused(["bench", "unet", "--size", "512", "--batch", "256"], mentions: ["needs about", "this machine has"])
        try assertRefused(["bench", "erase-step", "--repeats", "0"], mentions: ["--repeats"])
        try assertRefused(["bench", "gemm", "--seconds", "nan"], mentions: ["--seconds", "nan"])
        try assertRefused(["bench", "attention", "--query-block", "0"], mentions: ["--query-block"])
        try assertRefused(["bench", "nullspace", "--rows", "0"], mentions: ["--rows"])
        try assertRefused(["bench", "nullspace", "--rows", "1000000", "--width", "1000000"], mentions: ["--rows"])
        let out = scratch.appendingPathComponent("m").path
        try assertRefused(["train-toy", "--output", out, "--ema-decay", "nan"], mentions: ["--ema-decay", "nan"])
        try assertRefused(["train-toy", "--output", out, "--time-limit", "inf"], mentions: ["--time-limit"])
        try assertRefused(["train-toy", "--output", out, "--batch-size", "4611686018427387904"], mentions: ["--batch-size"])
        try assertRefused(["train-toy", "--output", out, "--style-weight", "plaid=2"], mentions: ["--style-weight", "plaid=2"])
        try assertRefused(["train-toy", "--output", out, "--style-weight", "striped=-1"], mentions: ["--style-weight", "striped=-1"])
        try assertRefused(["train-toy", "--output", out, "--from", "/nonexistent/toy"], mentions: ["--from", "/nonexistent/toy"])
        try assertRefused(["train-classifier", "--output", out + ".safetensors", "--learning-rate", "inf"], mentions: ["--learning-rate"])
        try assertRefused(["train-classifier", "--output", out + ".safetensors", "--batch-size", "0"], mentions: ["--batch-size"])
    }

    /// The shape and f32 values of the tensor "latents" of a safetensors file.
    static func floats(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let data = try Data(contentsOf: url)
        let headerLength = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let entry = try XCTUnwrap(header["latents"] as? [String: Any])
        let shape = try XCTUnwrap(entry["shape"] as? [Int])
        let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
        let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
        let values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (shape, values)
    }

    /// Width and height from a PNG's IHDR chunk.
    static func pngSize(_ url: URL) throws -> (Int, Int) {
        let d = [UInt8](try Data(contentsOf: url))
        func be(_ i: Int) -> Int { d[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }
}
