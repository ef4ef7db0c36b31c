import ArgumentParser
import ConceptErasure
import Foundation

struct ExportLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-lora",
        abstract: "Write shifts as one standard LoRA file (diffusers/PEFT or kohya keys).")

    @Option(help: "A shift file (repeatable; their sum is exported).") var shift: [String] = []
    @Option(help: "diffusers or kohya.") var format: String
    @Option(help: "Output .safetensors file.") var output: String

    func run() throws {
        guard !shift.isEmpty else { throw ValidationError("give at least one --shift") }
        guard let f = LoRAExport.Format(rawValue: format) else { throw ValidationError("--format must be diffusers or kohya, got '\(format)'") }
        let shifts = try shift.map { try ConceptShift.read(path: $0) }
        let s = try LoRAExport.write(shifts, format: f, to: output)
        print("wrote \(output): \(s.projections) projections, rank up to \(s.maxRank), \(s.parameters) parameters")
    }
}
