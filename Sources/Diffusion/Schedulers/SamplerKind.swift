import Foundation

/// The samplers sepme implements, by the names users type and diffusers' classes:
/// `ddim` (DDIMScheduler), `ddpm` (DDPMScheduler), `pndm` (PNDMScheduler, PLMS as Stable Diffusion
/// v1 folders configure it), `euler` and `euler-karras` (EulerDiscreteScheduler without / with
/// `use_karras_sigmas`), `euler-a` (EulerAncestralDiscreteScheduler), `dpm++2m` and
/// `dpm++2m-karras` (DPMSolverMultistepScheduler, dpmsolver++, without / with Karras sigmas).
/// Stored in configs and shift metadata by its raw value.
public enum SamplerKind: String, Codable, CaseIterable, Sendable {
    case ddim, ddpm, pndm
    case euler
    case eulerKarras = "euler-karras"
    case eulerAncestral = "euler-a"
    case dpmSolverPlusPlus2M = "dpm++2m"
    case dpmSolverPlusPlus2MKarras = "dpm++2m-karras"

    /// Other spellings, lowercased with '_' and ' ' read as '-': A1111's and ComfyUI's names and
    /// diffusers' class names without "scheduler".
    private static let aliases: [String: SamplerKind] = [
        "eulerdiscrete": .euler, "euler-discrete": .euler, "euler-k": .eulerKarras,
        "euler-ancestral": .eulerAncestral, "eulerancestral": .eulerAncestral, "eulerancestraldiscrete": .eulerAncestral,
        "euler-ancestral-discrete": .eulerAncestral,
        "dpmpp-2m": .dpmSolverPlusPlus2M, "dpmpp2m": .dpmSolverPlusPlus2M, "dpm++-2m": .dpmSolverPlusPlus2M,
        "dpmsolvermultistep": .dpmSolverPlusPlus2M, "dpm-solver-multistep": .dpmSolverPlusPlus2M,
        "dpmpp-2m-karras": .dpmSolverPlusPlus2MKarras, "dpmpp2m-karras": .dpmSolverPlusPlus2MKarras,
        "dpm++-2m-karras": .dpmSolverPlusPlus2MKarras
    ]

    /// A sampler by name, any case: the short names ("euler-a"), their spellings with '_' or ' '
    /// ("euler_ancestral", "dpmpp_2m_karras") and diffusers' class names ("DDIMScheduler",
    /// "EulerAncestralDiscreteScheduler"); nil for a sampler sepme does not have.
    public init?(name: String) {
        var lowered = name.lowercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: " ", with: "-")
        if lowered.hasSuffix("scheduler") { lowered = String(lowered.dropLast("scheduler".count)) }
        if lowered.hasSuffix("-") { lowered = String(lowered.dropLast()) }
        guard let kind = SamplerKind(rawValue: lowered) ?? Self.aliases[lowered] else { return nil }
        self = kind
    }

    /// Accepts the short names and diffusers' class names, so configs written by hand may use either.
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = SamplerKind(name: name) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "'\(name)' is not one of \(SamplerKind.allNames)"))
        }
        self = kind
    }

    /// "ddim, ddpm, pndm, euler, ...": for messages.
    public static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Whether this sampler uses Karras et al. 2022 noise levels (`use_karras_sigmas`).
    public var usesKarrasSigmas: Bool { self == .eulerKarras || self == .dpmSolverPlusPlus2MKarras }

    /// The sampler of a run: `chosen`, else the folder's own `_class_name` (with its
    /// `use_karras_sigmas` for the Euler and DPM-Solver classes), else DDIM (diffusers'
    /// `StableDiffusionPipeline` default).
    public static func resolve(_ chosen: SamplerKind?, config: SchedulerConfiguration) throws -> SamplerKind {
        if let chosen { return chosen }
        let own = config.className ?? "DDIMScheduler"
        guard let kind = SamplerKind(name: own) else { throw SchedulerError.unknownScheduler(own) }
        switch kind {
        case .euler, .eulerKarras: return config.useKarrasSigmas ? .eulerKarras : .euler
        case .dpmSolverPlusPlus2M, .dpmSolverPlusPlus2MKarras:
            return config.useKarrasSigmas ? .dpmSolverPlusPlus2MKarras : .dpmSolverPlusPlus2M
        default: return kind
        }
    }

    /// A fresh scheduler of this kind over `config`, as diffusers' `from_config` builds one from a
    /// folder's configuration (`eta` is DDIM's). The Karras names set `use_karras_sigmas`, the plain
    /// Euler and DPM++ 2M names clear it. Throws `SchedulerError.invalidConfig` for a configuration
    /// the sampler cannot use (naming the key and value).
    public func makeScheduler(config: SchedulerConfiguration, eta: Float = 0) throws -> Scheduler {
        var config = config
        config.useKarrasSigmas = usesKarrasSigmas
        switch self {
        case .ddim: return DDIMScheduler(config, eta: eta)
        case .ddpm: return DDPMScheduler(config)
        case .pndm: return try PNDMScheduler(config)
        case .euler, .eulerKarras: return try EulerDiscreteScheduler(config)
        case .eulerAncestral: return try EulerAncestralDiscreteScheduler(config)
        case .dpmSolverPlusPlus2M, .dpmSolverPlusPlus2MKarras: return try DPMSolverMultistepScheduler(config)
        }
    }
}
