import ArgumentParser
import ConceptErasure
import Diffusion
import TensorEngine

/// Library enums as typed command-line choices: the parser lists the allowed values in `--help`
/// and names the flag and the value in its error ("The value 'euler' is invalid for '--scheduler'").
/// The raw values are the spellings on the command line (`ddim`, `separate`, `kohya`, ...).
/// `--scheduler`: the short names, listed in `--help` with what each is; A1111 / ComfyUI spellings
/// ("euler_ancestral", "DPM++ 2M Karras") and diffusers' class names are accepted too.
extension SamplerKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }

    public var defaultValueDescription: String {
        switch self {
        case .ddim: return "DDIM (DDIMScheduler)"
        case .ddpm: return "DDPM, ancestral (DDPMScheduler)"
        case .pndm: return "PNDM/PLMS, the scheduler of SD 1.x folders (PNDMScheduler)"
        case .euler: return "Euler (EulerDiscreteScheduler)"
        case .eulerKarras: return "Euler with Karras sigmas"
        case .eulerAncestral: return "Euler ancestral, \"Euler a\" (EulerAncestralDiscreteScheduler)"
        case .dpmSolverPlusPlus2M: return "DPM++ 2M (DPMSolverMultistepScheduler)"
        case .dpmSolverPlusPlus2MKarras: return "DPM++ 2M with Karras sigmas"
        }
    }
}

/// `erase --variant separate|joint|full`.
extension ErasureVariant: ExpressibleByArgument {}

/// `erase --decouple wordings|names`, `benchmark --decouple`.
extension DecouplingScope: ExpressibleByArgument {}

/// `--precision fp32|bf16`.
extension ComputePrecision: ExpressibleByArgument {}

/// `export-lora --format diffusers|kohya`.
extension LoRAExport.Format: ExpressibleByArgument {}
