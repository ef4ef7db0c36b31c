import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Write a complete diffusers folder with shifts baked into the cross-attention weights.")

    @Option(help: "Model: a diffusers folder.") var model: String
    @Option(help: "A shift file (repeatable).") var shift: [String] = []
    @Option(help: "Output folder (must not exist yet).") var output: String
    @Flag(help: "Apply shifts even if they were made for another base model.") var force = false
    @Flag(help: "No progress output.") var quiet = false

    func run() throws {
        guard !shift.isEmpty else { throw ValidationError("give at least one --shift") }
        let shifts = try shift.map { try ConceptShift.read(path: $0) }
        let folder = try ModelFolder(path: model)
        let pipeline = try StableDiffusionPipeline(folder: folder)
        let model = try ShiftSet(pipeline: pipeline)
        try ErasureFlags.mapping([:]) { try model.install(shifts, force: force) }
        let changed = model.fuse()
        try ModelFolderWriter.copy(folder, to: URL(fileURLWithPath: output), replacingUNetWeightsFrom: pipeline.unet,
                                    keepInFloat32: Set(changed))
        if !quiet { FileHandle.standardError.write(Data("wrote \(output): \(changed.count) weights changed\n".utf8)) }
    }
}
