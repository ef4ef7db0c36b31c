import ArgumentParser
import ConceptErasure
import Foundation
import TensorEngine

@main
struct SepME: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sepme",
        abstract: "Separable, restorable concept erasure for Stable-Diffusion-family models (SepME / SRS-ME).",
        version: SepMEInfo.version,
        subcommands: [
            GenerateCommand.self, EraseCommand.self, ApplyCommand.self, InspectCommand.self,
            ExportLoRACommand.self, BenchCommand.self, ToyVocabCommand.self, ToySamplesCommand.self,
            TrainClassifierCommand.self, TrainToyCommand.self, ClassifyCommand.self, EvalCommand.self, DemoCommand.self,
            BenchmarkCommand.self, ComposeCommand.self, ClusterCommand.self
        ]
    )

    static func main() {
        // A closed pipe or a file over the size limit is a failed write (EPIPE, EFBIG) that the
        // writer reports, not a death by signal that leaves temporary files behind.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        reserveStandardDescriptors()
        OpenBLASSpinTuning.shortenThreadSpin()
        AllocatorTuning.keepFreedMemory()
        main(nil)
    }

    /// Started with stdin, stdout or stderr closed (`2>&-`), the first file opened would get that
    /// descriptor and receive the progress output; /dev/null takes the free slot instead.
    private static func reserveStandardDescriptors() {
        for descriptor: Int32 in [0, 1, 2] where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != descriptor {
                dup2(null, descriptor)
                close(null)
            }
        }
    }
}
