import ArgumentParser
import ConceptErasure
import FileOutput
import Foundation
import ImageIO

/// `sepme compose DIR`: the shifts of a plan (`DIR/plan.json`, trained by `sepme erase --plan`)
/// checked as one set: every shift present and made for the plan's base model, then the interference
/// matrix (`ShiftInterference`) printed and written to `DIR/composition.json` and
/// `DIR/composition.png`. Exits non-zero when a shift changes a prompt it must keep by more than
/// the plan's leak bound.
struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract:
            "Check a plan's shifts as one set: all present, one base model, and the interference of each on the others and on protected prompts.")

    @Argument(help: "The plan's folder (holding plan.json and the shift files).") var folder: String
    @Option(help: "Model (default: the plan's).") var model: String?
    @Option(help: ModelOptions.configHelp) var config: String?
    @OptionGroup var verbosity: QuietOption

    static let reportName = "composition.json"
    static let figureName = "composition.png"

    func validate() throws {
        try FlagCheck.nonEmpty("DIR", folder)
        if let model { try FlagCheck.nonEmpty("--model", model) }
        if let config { try FlagCheck.nonEmpty("--config", config) }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: folder)
        let planPath = directory.appendingPathComponent(ErasurePlanFile.fileName).path
        let interference: ShiftInterference = try CommandFailure.reporting(ErasureFlags.eraseGeneration) {
            try ErasureFlags.mapping(ErasureFlags.erase) {
                let file = try ErasurePlanFile.read(path: planPath)
                let paths = file.concepts.map { directory.appendingPathComponent($0.shiftFile).path }
                let missing = file.concepts.indices.filter { !FileManager.default.fileExists(atPath: paths[$0]) }
                guard missing.isEmpty else {
                    let list = missing.map { "[\($0)] \(file.concepts[$0].shiftFile)" }.joined(separator: ", ")
                    throw ValidationError(
                        "DIR: \(missing.count) of the plan's \(paths.count) shifts are missing: \(list); train them with: sepme erase --plan \(planPath) --index N"
                    )
                }
                let shifts = try paths.map { try ConceptShift.read(path: $0) }
                for (shift, path) in zip(shifts, paths) where shift.metadata.baseFingerprint != file.model.fingerprint {
                    throw ErasureError.fingerprintMismatch(path: path, expected: file.model.fingerprint, found: shift.metadata.baseFingerprint)
                }
                let set = try ModelLoading.shiftSet(for: file, planPath: planPath, path: model, config: config, quiet: verbosity.quiet)
                let result = try ShiftInterference(
                    model: set, shifts: Array(zip(shifts, file.concepts.map(\.leakBound))), protectedPrompts: file.plan.protectedPrompts)
                try write(result, file: file, directory: directory)
                return result
            }
        }
        if !verbosity.quiet { print(table(interference)) }
        guard interference.passed else {
            for v in interference.violations {
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "compose: '%@' changes '%@' by a leak of %.3g, over its plan's bound %.3g\n", v.shift,
                            v.column.isEmpty ? "(blank prompt)" : v.column, v.leak, v.bound
                        ).utf8))
            }
            throw ExitCode(1)
        }
    }

    /// Column keys: c0... for concepts, p0... for protected prompts, "blank".
    static func keys(_ columns: [ShiftInterference.Column]) -> [String] {
        var concept = 0
        var protected = 0
        return columns.map { c in
            switch c.kind {
            case .concept:
                defer { concept += 1 }
                return "c\(concept)"
            case .protected:
                defer { protected += 1 }
                return "p\(protected)"
            case .blank: return "blank"
            }
        }
    }

    /// The relative change matrix as text, one row per shift.
    func table(_ r: ShiftInterference) -> String {
        let keys = Self.keys(r.columns)
        let width = min(40, r.shifts.map(\.count).max() ?? 0)
        var lines = ["relative change of keys and values (row: shift; column: prompt)"]
        lines.append("".padding(toLength: width, withPad: " ", startingAt: 0) + keys.map { $0.leftPadded(9) }.joined())
        for (i, name) in r.shifts.enumerated() {
            let label = String(name.prefix(width)).padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append(label + r.relativeChange[i].map { String(format: "%9.1e", $0) }.joined())
        }
        for (key, column) in zip(keys, r.columns) { lines.append("\(key): \(column.name.isEmpty ? "(blank prompt)" : column.name)") }
        lines.append(
            r.passed
                ? "every protected prompt and other concept within its plan's leak bound (\(r.checkedPairs) pairs checked)"
                : "\(r.violations.count) of \(r.checkedPairs) checked pairs over their plan's leak bound")
        return lines.joined(separator: "\n")
    }

    private struct Report: Encodable {
        let plan: String
        let modelFingerprint: String
        let shiftFiles: [String]
        let interference: ShiftInterference
        enum CodingKeys: String, CodingKey {
            case plan
            case modelFingerprint = "model_fingerprint"
            case shiftFiles = "shift_files"
            case interference
        }
    }

    private func write(_ r: ShiftInterference, file: ErasurePlanFile, directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let report = Report(
            plan: ErasurePlanFile.fileName, modelFingerprint: file.model.fingerprint, shiftFiles: file.concepts.map(\.shiftFile),
            interference: r)
        let jsonPath = directory.appendingPathComponent(Self.reportName).path
        let figurePath = directory.appendingPathComponent(Self.figureName).path
        do {
            try AtomicFile.write(try encoder.encode(report), to: jsonPath)
            let figure = HeatMap(
                title: "Interference: relative change of keys and values", rowLabels: r.shifts, columnKeys: Self.keys(r.columns),
                columnNames: r.columns.map(\.name), values: r.relativeChange)
            try AtomicFile.write(Data(try PNG.encode(try figure.render())), to: figurePath)
        } catch let error as AtomicFile.WriteError {
            throw ErasureError.output(path: error.path, reason: "\(error)")
        }
        if !verbosity.quiet { print("wrote \(jsonPath) and \(figurePath)") }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
