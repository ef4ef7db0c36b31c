import ArgumentParser
import ConceptErasure
import Diffusion

/// Library enums as typed command-line choices: the parser lists the allowed values in `--help`
/// and names the flag and the value in its error.
extension SamplerKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension ErasureVariant: ExpressibleByArgument {}
extension LoRAExport.Format: ExpressibleByArgument {}
