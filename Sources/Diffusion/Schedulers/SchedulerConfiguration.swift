import Foundation

/// diffusers' `scheduler_config.json` (DDIMScheduler / DDPMScheduler / PNDMScheduler fields).
/// Unknown fields are ignored, as `from_config` does; absent fields take diffusers' defaults.
public struct SchedulerConfiguration: Codable, Equatable, Sendable {
    public var className: String?
    public var numTrainTimesteps: Int = 1000
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var betaSchedule: String = "linear"
    public var trainedBetas: [Double]?
    public var clipSample: Bool?
    public var clipSampleRange: Double = 1.0
    public var setAlphaToOne: Bool = true
    public var stepsOffset: Int = 0
    public var predictionType: String = "epsilon"
    public var timestepSpacing: String = "leading"
    public var thresholding: Bool = false
    public var varianceType: String?
    public var rescaleBetasZeroSnr: Bool = false
    /// PNDM: skip the Runge-Kutta warm-up (true in Stable Diffusion folders; diffusers' default false).
    public var skipPrkSteps: Bool = false

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case setAlphaToOne = "set_alpha_to_one"
        case stepsOffset = "steps_offset"
        case predictionType = "prediction_type"
        case timestepSpacing = "timestep_spacing"
        case thresholding
        case varianceType = "variance_type"
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case skipPrkSteps = "skip_prk_steps"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try c.decodeIfPresent(String.self, forKey: .className)
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? numTrainTimesteps
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? betaStart
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? betaEnd
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule) ?? betaSchedule
        trainedBetas = try c.decodeIfPresent([Double].self, forKey: .trainedBetas)
        clipSample = try c.decodeIfPresent(Bool.self, forKey: .clipSample)
        clipSampleRange = try c.decodeIfPresent(Double.self, forKey: .clipSampleRange) ?? clipSampleRange
        setAlphaToOne = try c.decodeIfPresent(Bool.self, forKey: .setAlphaToOne) ?? setAlphaToOne
        stepsOffset = try c.decodeIfPresent(Int.self, forKey: .stepsOffset) ?? stepsOffset
        predictionType = try c.decodeIfPresent(String.self, forKey: .predictionType) ?? predictionType
        timestepSpacing = try c.decodeIfPresent(String.self, forKey: .timestepSpacing) ?? timestepSpacing
        thresholding = try c.decodeIfPresent(Bool.self, forKey: .thresholding) ?? thresholding
        varianceType = try c.decodeIfPresent(String.self, forKey: .varianceType)
        rescaleBetasZeroSnr = try c.decodeIfPresent(Bool.self, forKey: .rescaleBetasZeroSnr) ?? rescaleBetasZeroSnr
        skipPrkSteps = try c.decodeIfPresent(Bool.self, forKey: .skipPrkSteps) ?? skipPrkSteps
    }

    /// Reads and validates `scheduler_config.json`.
    public static func load(from url: URL) throws -> SchedulerConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SchedulerError.unreadableConfig(path: url.path, reason: "cannot read the file")
        }
        let config: SchedulerConfiguration
        do { config = try JSONDecoder().decode(SchedulerConfiguration.self, from: data) } catch {
            throw SchedulerError.unreadableConfig(path: url.path, reason: "invalid JSON: \(error)")
        }
        try config.validate(source: url.path)
        return config
    }

    public func validate(source: String) throws {
        guard numTrainTimesteps > 0 else { throw SchedulerError.invalidConfig(source, "num_train_timesteps must be positive") }
        guard ["linear", "scaled_linear", "squaredcos_cap_v2"].contains(betaSchedule) || trainedBetas != nil else {
            throw SchedulerError.invalidConfig(source, "beta_schedule '\(betaSchedule)' is not one of linear, scaled_linear, squaredcos_cap_v2")
        }
        guard ["epsilon", "v_prediction", "sample"].contains(predictionType) else {
            throw SchedulerError.invalidConfig(source, "prediction_type '\(predictionType)' is not one of epsilon, v_prediction, sample")
        }
        guard ["leading", "trailing", "linspace"].contains(timestepSpacing) else {
            throw SchedulerError.invalidConfig(source, "timestep_spacing '\(timestepSpacing)' is not one of leading, trailing, linspace")
        }
        if let varianceType, !["fixed_small", "fixed_small_log", "fixed_large"].contains(varianceType) {
            // learned / learned_range need a UNet predicting the variance; diffusers' fixed_large_log
            // takes the square root of a logarithm (NaN noise scale), so it is refused too.
            throw SchedulerError.invalidConfig(source, "variance_type '\(varianceType)' is not one of fixed_small, fixed_small_log, fixed_large")
        }
        if thresholding { throw SchedulerError.invalidConfig(source, "thresholding (dynamic thresholding) is not supported") }
        if let trainedBetas, trainedBetas.count != numTrainTimesteps {
            throw SchedulerError.invalidConfig(source, "trained_betas has \(trainedBetas.count) values for \(numTrainTimesteps) timesteps")
        }
    }
}

public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    case unreadableConfig(path: String, reason: String)
    case invalidConfig(String, String)
    case unknownScheduler(String)
    case invalidStepCount(requested: Int, trainTimesteps: Int)

    public var description: String {
        switch self {
        case .unreadableConfig(let path, let reason): return "\(path): \(reason)"
        case .invalidConfig(let source, let reason): return "\(source): \(reason)"
        case .unknownScheduler(let name):
            return "scheduler '\(name)' is not supported (sepme has ddim, ddpm and pndm; pass --scheduler ddim to sample with DDIM from this folder's configuration)"
        case .invalidStepCount(let n, let t): return "--steps \(n) must be between 1 and the \(t) training timesteps"
        }
    }
}
