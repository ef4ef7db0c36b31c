import Foundation
import NeuralNet

/// diffusers' AutoencoderKL `config.json` (models/autoencoders/autoencoder_kl.py `__init__` arguments).
/// Absent fields take diffusers' defaults; fields sepme has no use for (`_class_name`,
/// `latents_mean`, ...) are ignored, as `from_config` does. Values the model cannot implement are
/// rejected by `validate(source:)` with the file and field named.
public struct AutoencoderKLConfiguration: Codable, Equatable, Sendable {
    public var inChannels: Int = 3
    public var outChannels: Int = 3
    public var downBlockTypes: [VAEEncoderBlockType] = [.downEncoder]
    public var upBlockTypes: [VAEDecoderBlockType] = [.upDecoder]
    public var blockOutChannels: [Int] = [64]
    public var layersPerBlock: Int = 1
    public var latentChannels: Int = 4
    public var normNumGroups: Int = 32
    public var sampleSize: Int = 32
    /// Latents for the UNet are `z * scalingFactor` (the caller scales; `decode` expects unscaled z).
    public var scalingFactor: Double = 0.18215
    /// Latent shift of newer VAEs (`(z - shift) * scale`); nil for Stable Diffusion 1.x. Applied by the caller.
    public var shiftFactor: Double?
    public var useQuantConv: Bool = true
    public var usePostQuantConv: Bool = true
    public var midBlockAddAttention: Bool = true
    public var actFn: String = "silu"
    /// `force_upcast` (nil when absent; diffusers' default true): diffusers decodes an fp16 VAE in
    /// fp32 when set (SDXL's VAE overflows in fp16). sepme's VAE always runs in fp32, so the flag is
    /// read, kept when a folder is written, and has no further effect.
    public var forceUpcast: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
        case useQuantConv = "use_quant_conv"
        case usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
        case actFn = "act_fn"
        case forceUpcast = "force_upcast"
    }

    public init() {}

    /// Creates a configuration with diffusers' defaults, changed by `body`.
    public init(_ body: (inout AutoencoderKLConfiguration) -> Void) {
        body(&self)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        inChannels = try read(.inChannels, inChannels)
        outChannels = try read(.outChannels, outChannels)
        downBlockTypes = try read(.downBlockTypes, downBlockTypes)
        upBlockTypes = try read(.upBlockTypes, upBlockTypes)
        blockOutChannels = try read(.blockOutChannels, blockOutChannels)
        layersPerBlock = try read(.layersPerBlock, layersPerBlock)
        latentChannels = try read(.latentChannels, latentChannels)
        normNumGroups = try read(.normNumGroups, normNumGroups)
        sampleSize = try read(.sampleSize, sampleSize)
        scalingFactor = try read(.scalingFactor, scalingFactor)
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor)
        useQuantConv = try read(.useQuantConv, useQuantConv)
        usePostQuantConv = try read(.usePostQuantConv, usePostQuantConv)
        midBlockAddAttention = try read(.midBlockAddAttention, midBlockAddAttention)
        actFn = try read(.actFn, actFn)
        forceUpcast = try c.decodeIfPresent(Bool.self, forKey: .forceUpcast)
    }

    /// The VAE of Stable Diffusion 1.4 / 1.5 (`vae/config.json` of CompVis/stable-diffusion-v1-4).
    public static let sd14 = AutoencoderKLConfiguration {
        $0.downBlockTypes = Array(repeating: .downEncoder, count: 4)
        $0.upBlockTypes = Array(repeating: .upDecoder, count: 4)
        $0.blockOutChannels = [128, 256, 512, 512]
        $0.layersPerBlock = 2
        $0.sampleSize = 512
    }

    /// Pixels per latent cell along each side: 2^(number of blocks − 1), as diffusers' pipelines
    /// derive `vae_scale_factor`.
    public var spatialScaleFactor: Int { 1 << max(blockOutChannels.count - 1, 0) }

    /// Allowed range of each size read from a `config.json` (every list entry too), checked before
    /// anything is allocated. Generous: SD's VAE has 3 image channels, 4 latent channels, widths up to
    /// 512, 2 layers per block and 4 blocks; the limits refuse the absurd with the range.
    public static let allowedRanges: [String: ClosedRange<Int>] = [
        "in_channels": 1...1_024, "out_channels": 1...1_024, "latent_channels": 1...1_024,
        "block_out_channels": 1...16_384, "layers_per_block": 1...64, "norm_num_groups": 1...16_384,
        "sample_size": 1...65_536
    ]
    /// Most blocks: 16 (a spatial factor of 2^15).
    public static let maximumBlockCount = 16

    /// A lower bound of the parameter count (the 3×3 convolutions of every resnet: per block
    /// 2·layers + 1 at the block's width), computed without allocating.
    public var minimumParameterCount: Int {
        var total = 0
        for c in blockOutChannels {
            let (square, o1) = c.multipliedReportingOverflow(by: c)
            let (term, o2) = square.multipliedReportingOverflow(by: 9 * (2 * layersPerBlock + 1))
            if o1 || o2 { return Int.max }
            total = total.addingReportingOverflow(term).overflow ? Int.max : total + term
        }
        return total
    }

    /// Reads and validates a VAE `config.json`: field types and ranges first, then values.
    public static func load(from url: URL) throws -> AutoencoderKLConfiguration {
        let file: ConfigurationFile
        do {
            file = try ConfigurationFile(url: url)
            try file.check(
                integers: allowedRanges, numbers: ["scaling_factor", "shift_factor"], strings: ["act_fn"],
                booleans: ["use_quant_conv", "use_post_quant_conv", "mid_block_add_attention", "force_upcast"])
        } catch let error as ConfigurationFileError {
            if case .invalidField(_, let field, let reason) = error {
                throw AutoencoderKLError.invalidConfig(path: url.path, field: field, reason: reason)
            }
            throw AutoencoderKLError.unreadableConfig(path: url.path, reason: error.detail)
        }
        try checkBlockTypes(file)
        let data = file.data
        let config: AutoencoderKLConfiguration
        do {
            config = try JSONDecoder().decode(AutoencoderKLConfiguration.self, from: data)
        } catch let DecodingError.typeMismatch(type, context) {
            throw AutoencoderKLError.invalidConfig(
                path: url.path, field: Self.fieldName(context.codingPath),
                reason: "expected a value of type \(type): \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw AutoencoderKLError.invalidConfig(
                path: url.path, field: Self.fieldName(context.codingPath),
                reason: "expected a value of type \(type), found null")
        } catch {
            throw AutoencoderKLError.unreadableConfig(path: url.path, reason: file.explain(error).detail)
        }
        try config.validate(source: url.path)
        return config
    }

    /// Refuses a block type the model does not build before decoding, as `invalidConfig` naming the
    /// entry ("down_block_types[1]"), the value and the supported types; decoding alone would only say
    /// that the value is not one of the cases.
    static func checkBlockTypes(_ file: ConfigurationFile) throws {
        func refuse(_ key: CodingKeys, _ unknown: (index: Int?, name: String)?, _ supported: String) throws {
            guard let unknown else { return }
            throw AutoencoderKLError.invalidConfig(
                path: file.path, field: unknown.index.map { "\(key.rawValue)[\($0)]" } ?? key.rawValue,
                reason: "'\(unknown.name)' is not supported (only \(supported))")
        }
        let object = file.object
        try refuse(
            .downBlockTypes, VAEEncoderBlockType.firstUnknown(in: object[CodingKeys.downBlockTypes.rawValue]), VAEEncoderBlockType.acceptedValues)
        try refuse(.upBlockTypes, VAEDecoderBlockType.firstUnknown(in: object[CodingKeys.upBlockTypes.rawValue]), VAEDecoderBlockType.acceptedValues)
    }

    private static func fieldName(_ path: [CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    /// Throws `AutoencoderKLError.invalidConfig` naming `source` and the first field the model cannot use.
    public func validate(source: String) throws {
        func fail(_ key: CodingKeys, _ reason: String) -> AutoencoderKLError {
            .invalidConfig(path: source, field: key.rawValue, reason: reason)
        }
        for key in [CodingKeys.inChannels, .outChannels, .latentChannels, .layersPerBlock, .normNumGroups, .sampleSize, .blockOutChannels] {
            let values: [Int]
            switch key {
            case .inChannels: values = [inChannels]
            case .outChannels: values = [outChannels]
            case .latentChannels: values = [latentChannels]
            case .layersPerBlock: values = [layersPerBlock]
            case .normNumGroups: values = [normNumGroups]
            case .sampleSize: values = [sampleSize]
            default: values = blockOutChannels
            }
            if let range = Self.allowedRanges[key.rawValue], let bad = values.first(where: { !range.contains($0) }) {
                throw fail(key, "\(bad) is outside the allowed range \(range.lowerBound)...\(range.upperBound)")
            }
        }
        guard blockOutChannels.count <= Self.maximumBlockCount else {
            throw fail(.blockOutChannels, "has \(blockOutChannels.count) blocks, at most \(Self.maximumBlockCount) are allowed")
        }
        if let shiftFactor, !shiftFactor.isFinite { throw fail(.shiftFactor, "must be a finite number, got \(shiftFactor)") }
        guard inChannels >= 1 else { throw fail(.inChannels, "must be positive, got \(inChannels)") }
        guard outChannels >= 1 else { throw fail(.outChannels, "must be positive, got \(outChannels)") }
        guard latentChannels >= 1 else { throw fail(.latentChannels, "must be positive, got \(latentChannels)") }
        guard layersPerBlock >= 1 else { throw fail(.layersPerBlock, "must be positive, got \(layersPerBlock)") }
        guard !blockOutChannels.isEmpty else { throw fail(.blockOutChannels, "must list at least one block") }
        guard normNumGroups >= 1 else { throw fail(.normNumGroups, "must be positive, got \(normNumGroups)") }
        for ch in blockOutChannels where ch < 1 || ch % normNumGroups != 0 {
            throw fail(.blockOutChannels, "\(ch) channels do not divide into norm_num_groups = \(normNumGroups) groups")
        }
        guard downBlockTypes.count == blockOutChannels.count else {
            throw fail(.downBlockTypes, "has \(downBlockTypes.count) entries for \(blockOutChannels.count) block_out_channels")
        }
        guard upBlockTypes.count == blockOutChannels.count else {
            throw fail(.upBlockTypes, "has \(upBlockTypes.count) entries for \(blockOutChannels.count) block_out_channels")
        }
        guard actFn == "silu" else { throw fail(.actFn, "'\(actFn)' is not supported (only silu)") }
        guard scalingFactor.isFinite && scalingFactor > 0 else {
            throw fail(.scalingFactor, "must be a positive number, got \(scalingFactor)")
        }
    }
}

/// Why a VAE folder cannot be used. Messages name the file and the field or weight.
public enum AutoencoderKLError: Error, CustomStringConvertible, Equatable {
    case unreadableConfig(path: String, reason: String)
    case invalidConfig(path: String, field: String, reason: String)
    case missingFile(path: String, expected: String)
    /// An input tensor whose shape does not fit the model.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .unreadableConfig(let path, let reason): return "\(path): \(reason)"
        case .invalidConfig(let path, let field, let reason): return "\(path): field '\(field)' \(reason)"
        case .missingFile(let path, let expected): return "\(path): not found (expected \(expected))"
        case .invalidInput(let reason): return reason
        }
    }
}
