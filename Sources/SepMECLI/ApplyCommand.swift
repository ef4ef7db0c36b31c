import ArgumentParser
import ConceptErasure
import Diffusion
import Foundation

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Write a complete diffusers folder with shifts baked into the cross-attention weights.")

    @Option(help: "Model: a diffusers folder (SD 1.x, 2.x or XL).") var model: String
    @Option(help: "A shift file (repeatable).") var shift: [String] = []
    @Option(help: "Output folder (must not exist yet).") var output: String
    @Flag(help: "Apply shifts even if they were made for another base model.") var force = false
    @OptionGroup var verbosity: QuietOption

    func validate() throws {
        guard !shift.isEmpty else { throw ValidationError("give at least one --shift") }
        try FlagCheck.nonEmpty("--model", model)
        try FlagCheck.nonEmpty("--output", output)
    }

    func run() throws {
        try CommandFailure.reporting {
            try ErasureFlags.mapping([:]) {
                let shifts = try shift.map { try ConceptShift.read(path: $0) }
                let folder = try ModelFolder(path: model)
                let pipeline: any PromptConditionedPipeline =
                    folder.isStableDiffusionXL ? try StableDiffusionXLPipeline(folder: folder) : try StableDiffusionPipeline(folder: folder)
                let shiftSet = try ShiftSet(pipeline: pipeline)
                try shiftSet.install(shifts, force: force)
                let changed = shiftSet.fuse()
                Interrupt.install()
                try ModelFolderWriter.copy(
                    folder, to: URL(fileURLWithPath: output), replacingUNetWeightsFrom: pipeline.unet,
                    keepInFloat32: Set(changed), shouldStop: { Interrupt.requested })
                if !verbosity.quiet { StandardError.write("wrote \(output): \(changed.count) weights changed\n") }
            }
        }
    }
}
