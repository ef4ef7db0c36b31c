import ArgumentParser
import ConceptErasure
import Diffusion

/// Library enums as typed command-line choices: the parser lists the allowed values in `--help`
/// and names the flag and the value in its error ("The value 'euler' is invalid for '--scheduler'").
/// The raw values are the spellings on the command line (`ddim`, `separate`, `kohya`, ...).
extension SamplerKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

/// `erase --variant separate|joint|full`.
extension ErasureVariant: ExpressibleByArgument {}

/// `export-lora --format diffusers|kohya`.
extension LoRAExport.Format: ExpressibleByArgument {}
