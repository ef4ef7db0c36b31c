import ArgumentParser
import ConceptErasure
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarise a shift file.")

    @Argument(help: "A .sepme.safetensors shift file.") var file: String
    @Flag(help: "Print the full metadata as JSON.") var json = false

    func run() throws {
        let shift = try ConceptShift.read(path: file)
        let m = shift.metadata
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(m), as: UTF8.self))
            return
        }
        print("concept:        \(m.concepts.joined(separator: " | "))")
        print("variant:        \(m.variant.rawValue) (\(m.method))\(m.restorable ? "" : ", NOT restorable")")
        print("protected:      \(m.protectedPrompts.isEmpty ? "-" : m.protectedPrompts.joined(separator: " | "))")
        print("decoupled from: \(m.decoupledFrom.isEmpty ? "-" : m.decoupledFrom.joined(separator: " | "))")
        print("base model:     \(m.baseFingerprint)")
        if let ns = m.nullSpace {
            print(String(format: "null space:     %@, dimension %d (rank %d of %d rows), sigma_cut %.3g, leak bound %@",
                         ns.mode, ns.dimension, ns.rank, ns.rows, ns.largestDiscardedSingularValue,
                         ns.leakBound.map { String(format: "%.3g", $0) } ?? "-"))
        }
        let t = m.training
        print(String(format: "training:       %d iterations, %@, loss %@ -> %@, %.1f s, %d images",
                     t.iterations, t.stopReason, t.initialLoss.map { String(format: "%.4g", $0) } ?? "-",
                     t.finalLoss.map { String(format: "%.4g", $0) } ?? "-", t.seconds, t.trainingImages))
        let h = m.hyperparameters
        print(String(format: "hyper-params:   lr %g, beta %g, lambda %g, tau %g, alpha %g, max %d", h.learningRate, h.beta, h.lambda, h.tau, h.alpha, h.maxIterations))
        print("projections:    \(shift.projectionKeys.count) (\(shift.basis.map { "basis \($0.shape)" } ?? "dense deltas"))")
        print("tool:           sepme \(m.toolVersion)")
    }
}
