import ArgumentParser

@main
struct SepME: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sepme",
        abstract: "Separable, restorable concept erasure for Stable-Diffusion-family models.",
        version: SepMEVersion.string,
        subcommands: [BenchCommand.self]
    )
}

enum SepMEVersion {
    static let string = "0.1.0"
}
