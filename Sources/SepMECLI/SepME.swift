import ArgumentParser
import ConceptErasure
import TensorEngine

@main
struct SepME: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sepme",
        abstract: "Separable, restorable concept erasure for Stable-Diffusion-family models (SepME / SRS-ME).",
        version: SepMEInfo.version,
        subcommands: [GenerateCommand.self, EraseCommand.self, ApplyCommand.self, InspectCommand.self,
                      ExportLoRACommand.self, BenchCommand.self, ToyVocabCommand.self, ToySamplesCommand.self,
                      TrainClassifierCommand.self, TrainToyCommand.self, ClassifyCommand.self, EvalCommand.self, DemoCommand.self]
    )

    static func main() {
        OpenBLASSpinTuning.shortenThreadSpin()
        AllocatorTuning.keepFreedMemory()
        main(nil)
    }
}
