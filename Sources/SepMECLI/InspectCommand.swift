import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

/// `sepme inspect`: what a shift file erases, how it was made, and what it leaves alone. Every
/// string read from the file is printed through `TerminalText`, so a crafted file cannot drive the
/// terminal (`--json` escapes control characters by JSON's own rules). It also shows what
/// `export-lora` would keep of the shift by default (`LoRAExport.summary`): the numerical rank of
/// each projection's ΔW, the rank the default rule keeps and the Frobenius energy kept.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarise a shift file.")

    @Argument(help: "A .sepme.safetensors shift file.") var file: String
    @Flag(help: "Print the full metadata as JSON, with a \"lora_export\" object (per-projection ranks).") var json = false
    @Flag(help: "List every projection's numerical rank, default LoRA rank and energy kept.") var verbose = false

    /// ", Stable Diffusion XL, context width 2048", or nothing for a file that does not record them.
    static func family(_ m: ShiftMetadata) -> String {
        (m.modelFamily.map { ", \($0.displayName)" } ?? "") + (m.contextWidth.map { ", context width \($0)" } ?? "")
    }

    func run() throws {
        let shift = try CommandFailure.reporting { try ConceptShift.read(path: file) }
        let m = shift.metadata
        let export = Result { try LoRAExport.summary(of: [shift]) }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(InspectJSON(metadata: m, export: export)), as: UTF8.self))
            return
        }
        func list(_ items: [String]) -> String { items.isEmpty ? "-" : items.map(TerminalText.sanitized).joined(separator: " | ") }
        func number(_ v: Double?) -> String { v.map { String(format: "%.4g", $0) } ?? "-" }
        print("concept:        \(list(m.concepts))")
        print("variant:        \(m.variant.rawValue) (\(m.method.rawValue))\(m.restorable ? "" : ", NOT restorable")")
        print("protected:      \(list(m.protectedPrompts))")
        print("decoupled from: \(list(m.decoupledFrom))")
        print("base model:     \(m.baseFingerprint)" + Self.family(m))
        if let ns = m.nullSpace {
            print(
                String(
                    format: "null space:     %@, dimension %d (rank %d of %d rows), sigma_cut %.3g, leak bound %@",
                    ns.mode.rawValue, ns.dimension, ns.rank, ns.rows, ns.largestDiscardedSingularValue,
                    ns.leakBound.map { String(format: "%.3g", $0) } ?? "-"))
            if let leak = ns.relativeLeak, ns.mode == .tolerance {
                print(
                    String(
                        format: "reach mask:     rows with at most %.3g of their norm inside the basis get no shift (relative leak %.3g)",
                        Double(ShiftAdapter.reachThreshold(relativeLeak: leak)), leak))
            }
        }
        let t = m.training
        if t.stopReason == .closedForm {
            print(String(format: "training:       closed form, %.2f s", t.seconds))
        } else {
            print(
                "training:       \(t.iterations) iterations, \(t.stopReason.rawValue), loss \(number(t.initialLoss)) -> \(number(t.finalLoss)), "
                    + String(format: "%.1f s, %d images", t.seconds, t.trainingImages)
                    + (t.originalPrecision == "fp32" ? "" : ", original predictions in \(t.originalPrecision)"))
        }
        let h = m.hyperparameters
        if let u = m.uce {
            print(
                "uce:            guide '\(TerminalText.sanitized(u.guide))', preserve \(list(u.preserve.map { $0.isEmpty ? "(blank)" : $0 })), "
                    + String(format: "lambda %g, erase scale %g, preserve scale %g", u.lambda, u.eraseScale, u.preserveScale))
        } else if let e = m.esd {
            print(
                String(
                    format: "esd-x:          negative guidance %g, start guidance %g, lr %g, %d iterations", e.negativeGuidance, e.startGuidance,
                    e.learningRate, e.iterations))
        } else if let c = m.ca {
            print(
                "ca:             anchor '\(TerminalText.sanitized(c.anchor))'"
                    + String(format: ", lr %g, %d iterations, %d images", c.learningRate, c.iterations, c.images))
        } else {
            print(
                String(
                    format: "hyper-params:   lr %g, beta %g, lambda %g, tau %g, alpha %g, max %d", h.learningRate, h.beta, h.lambda, h.tau,
                    h.alpha, h.maxIterations))
        }
        switch shift.weights {
        case .factorised(let beta, let basis, let factors, _):
            print("projections:    \(factors.count), factorised (basis \(basis.shape), beta \(beta))")
        case .dense(let deltas, let biases):
            print("projections:    \(deltas.count), dense deltas" + (biases.isEmpty ? "" : ", \(biases.count) with a bias change"))
        }
        printExport(export, shift: shift)
        print("tool:           sepme \(TerminalText.sanitized(m.toolVersion))")
    }

    /// The rank lines: numerical rank over projections, what the default export keeps, and with
    /// `--verbose` one line per projection.
    private func printExport(_ export: Result<LoRAExport.Summary, Error>, shift: ConceptShift) {
        let s: LoRAExport.Summary
        switch export {
        case .success(let summary): s = summary
        case .failure(let error):
            print("lora export:    none: \(TerminalText.line(CommandFailure.message(for: error)))")
            return
        }
        let choices = s.choices.values.filter { $0.numericalRank > 0 }
        func mean(_ f: (LoRARankRule.Choice) -> Int) -> String {
            String(format: "%.1f", Double(choices.map(f).reduce(0, +)) / Double(max(choices.count, 1)))
        }
        var basis = ""
        if case .factorised(_, let b, _, _) = shift.weights { basis = ", basis \(b.shape[0])" }
        print("rank:           numerical up to \(s.maxNumericalRank) (mean \(mean(\.numericalRank)))\(basis) over \(choices.count) projections")
        print(
            "lora export:    by default rank up to \(s.maxRank) (mean \(mean(\.rank))), \(s.parameters) parameters; "
                + ExportLoRACommand.energyLine(s, cap: nil))
        guard verbose else { return }
        for (key, c) in s.choices.sorted(by: { $0.key < $1.key }) {
            let shape = shift.weightDelta(for: key)?.shape.map(String.init).joined(separator: "x") ?? "-"
            print(
                "  \(TerminalText.sanitized(key)) [\(shape)]: numerical rank \(c.numericalRank), rank \(c.rank), "
                    + String(format: "energy kept %.6f", c.energyKept))
        }
    }
}

/// `inspect --json`: the shift's metadata keys, plus `lora_export` (what the default export keeps,
/// per projection) or `lora_export_error` when there is nothing to export.
private struct InspectJSON: Encodable {
    let metadata: ShiftMetadata
    let export: Result<LoRAExport.Summary, Error>

    private enum Key: String, CodingKey {
        case loraExport = "lora_export"
        case loraExportError = "lora_export_error"
    }
    private struct Export: Encodable {
        let energyRule: Double
        let maxRank: Int
        let maxNumericalRank: Int
        let parameters: Int
        let minEnergyKept: Double
        let meanEnergyKept: Double
        let projections: [String: LoRARankRule.Choice]

        enum CodingKeys: String, CodingKey {
            case energyRule = "energy_rule"
            case maxRank = "max_rank"
            case maxNumericalRank = "max_numerical_rank"
            case parameters
            case minEnergyKept = "min_energy_kept"
            case meanEnergyKept = "mean_energy_kept"
            case projections
        }
    }

    func encode(to encoder: Encoder) throws {
        try metadata.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        switch export {
        case .success(let s):
            try c.encode(
                Export(
                    energyRule: s.energy, maxRank: s.maxRank, maxNumericalRank: s.maxNumericalRank, parameters: s.parameters,
                    minEnergyKept: s.minEnergyKept, meanEnergyKept: s.meanEnergyKept, projections: s.choices),
                forKey: .loraExport)
        case .failure(let error):
            try c.encode(CommandFailure.message(for: error), forKey: .loraExportError)
        }
    }
}
