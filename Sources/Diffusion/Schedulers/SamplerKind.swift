/// The samplers sepme implements, by diffusers class: `DDIMScheduler`, `DDPMScheduler`,
/// `PNDMScheduler` (PLMS as Stable Diffusion v1 folders configure it). Stored in configs and shift
/// metadata by its raw value ("ddim", "ddpm", "pndm").
public enum SamplerKind: String, Codable, CaseIterable, Sendable {
    case ddim, ddpm, pndm

    /// A sampler by short name or diffusers class name, any case ("DDIM", "DDIMScheduler"); nil for
    /// a sampler sepme does not have.
    public init?(name: String) {
        let lowered = name.lowercased()
        let short = lowered.hasSuffix("scheduler") ? String(lowered.dropLast("scheduler".count)) : lowered
        self.init(rawValue: short)
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

    /// "ddim, ddpm, pndm": for messages.
    public static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The sampler of a run: `chosen`, else the folder's own `_class_name`, else DDIM (diffusers'
    /// `StableDiffusionPipeline` default).
    public static func resolve(_ chosen: SamplerKind?, config: SchedulerConfiguration) throws -> SamplerKind {
        if let chosen { return chosen }
        let own = config.className ?? "DDIMScheduler"
        guard let kind = SamplerKind(name: own) else { throw SchedulerError.unknownScheduler(own) }
        return kind
    }

    /// A fresh scheduler of this kind over `config` (`eta` is DDIM's).
    public func makeScheduler(config: SchedulerConfiguration, eta: Float = 0) throws -> Scheduler {
        switch self {
        case .ddim: return DDIMScheduler(config, eta: eta)
        case .ddpm: return DDPMScheduler(config)
        case .pndm: return try PNDMScheduler(config)
        }
    }
}
