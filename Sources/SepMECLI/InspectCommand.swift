import ArgumentParser
import ConceptErasure
import Foundation

/// `sepme inspect`: what a shift file erases, how it was made, and what it leaves alone. Every
/// string read from the file is printed through `TerminalText`, so a crafted file cannot drive the
/// terminal (`--json` escapes control characters by JSON's own rules).
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarise a shift file.")

    @Argument(help: "A .sepme.safetensors shift file.") var file: String
    @Flag(help: "Print the full metadata as JSON.") var json = false

    func run() throws {
        let shift = try CommandFailure.reporting { try ConceptShift.read(path: file) }
        let m = shift.metadata
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(m), as: UTF8.self))
            return
        }
        func list(_ items: [String]) -> String { items.isEmpty ? "-" : items.map(TerminalText.sanitized).joined(separator: " | ") }
        func number(_ v: Double?) -> String { v.map { String(format: "%.4g", $0) } ?? "-" }
        print("concept:        \(list(m.concepts))")
        print("variant:        \(m.variant.rawValue) (\(m.method.rawValue))\(m.restorable ? "" : ", NOT restorable")")
        print("protected:      \(list(m.protectedPrompts))")
        print("decoupled from: \(list(m.decoupledFrom))")
        print("base model:     \(m.baseFingerprint)")
        if let ns = m.nullSpace {
            print(
                String(
                    format: "null space:     %@, dimension %d (rank %d of %d rows), sigma_cut %.3g, leak bound %@",
                    ns.mode.rawValue, ns.dimension, ns.rank, ns.rows, ns.largestDiscardedSingularValue,
                    ns.leakBound.map { String(format: "%.3g", $0) } ?? "-"))
        }
        let t = m.training
        if t.stopReason == .closedForm {
            print(String(format: "training:       closed form, %.2f s", t.seconds))
        } else {
            print(
                "training:       \(t.iterations) iterations, \(t.stopReason.rawValue), loss \(number(t.initialLoss)) -> \(number(t.finalLoss)), "
                    + String(format: "%.1f s, %d images", t.seconds, t.trainingImages))
        }
        let h = m.hyperparameters
        if let u = m.uce {
            print(
                "uce:            guide '\(TerminalText.sanitized(u.guide))', preserve \(list(u.preserve.map { $0.isEmpty ? "(blank)" : $0 })), "
                    + String(format: "lambda %g, erase scale %g, preserve scale %g", u.lambda, u.eraseScale, u.preserveScale))
        } else {
            print(
                String(
                    format: "hyper-params:   lr %g, beta %g, lambda %g, tau %g, alpha %g, max %d", h.learningRate, h.beta, h.lambda, h.tau,
                    h.alpha, h.maxIterations))
        }
        switch shift.weights {
        case .factorised(let beta, let basis, let factors):
            print("projections:    \(factors.count), factorised (basis \(basis.shape), beta \(beta))")
        case .dense(let deltas, let biases):
            print("projections:    \(deltas.count), dense deltas" + (biases.isEmpty ? "" : ", \(biases.count) with a bias change"))
        }
        print("tool:           sepme \(TerminalText.sanitized(m.toolVersion))")
    }
}
