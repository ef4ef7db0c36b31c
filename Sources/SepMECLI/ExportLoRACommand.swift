import ArgumentParser
import ConceptErasure
import Foundation

struct ExportLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-lora",
        abstract: "Write shifts as one standard LoRA file (diffusers/PEFT or kohya keys).")

    @Option(help: "A shift file (repeatable; their sum is exported).") var shift: [String] = []
    @Option(help: "Key layout: diffusers (PEFT) or kohya (A1111, ComfyUI).") var format: LoRAExport.Format
    @Option(help: "Output .safetensors file.") var output: String

    func validate() throws {
        guard !shift.isEmpty else { throw ValidationError("give at least one --shift") }
        try FlagCheck.nonEmpty("--output", output)
    }

    func run() throws {
        let s = try CommandFailure.reporting {
            try ErasureFlags.mapping([:]) {
                try LoRAExport.write(shift.map { try ConceptShift.read(path: $0) }, format: format, to: output)
            }
        }
        print("wrote \(output): \(s.projections) projections, rank up to \(s.maxRank), \(s.parameters) parameters")
    }
}
