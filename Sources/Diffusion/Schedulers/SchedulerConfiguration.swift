import Foundation
import NeuralNet

/// diffusers' `scheduler_config.json` (the fields of DDIMScheduler, DDPMScheduler, PNDMScheduler,
/// EulerDiscreteScheduler, EulerAncestralDiscreteScheduler and DPMSolverMultistepScheduler). Unknown
/// fields are ignored, as `from_config` does; absent fields take diffusers' defaults, which for
/// `timestep_spacing` depend on the file's `_class_name` (linspace for the Euler and DPM-Solver
/// classes, leading otherwise).
public struct SchedulerConfiguration: Codable, Equatable, Sendable {
    public var className: String?
    public var numTrainTimesteps: Int = 1000
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var betaSchedule: BetaSchedule = .linear
    public var trainedBetas: [Double]?
    public var clipSample: Bool?
    public var clipSampleRange: Double = 1.0
    public var setAlphaToOne: Bool = true
    public var stepsOffset: Int = 0
    public var predictionType: PredictionType = .epsilon
    public var timestepSpacing: TimestepSpacing = .leading
    public var thresholding: Bool = false
    public var varianceType: VarianceType?
    public var rescaleBetasZeroSnr: Bool = false
    /// PNDM: skip the Runge-Kutta warm-up (true in Stable Diffusion folders; diffusers' default false).
    public var skipPrkSteps: Bool = false
    // Sigma-based samplers (Euler, Euler ancestral, DPM-Solver).
    /// Karras et al. 2022 noise levels (eq. 5, ρ = 7) instead of the training schedule's.
    public var useKarrasSigmas: Bool = false
    /// Other sigma ramps of diffusers (exponential, beta, Lu lambdas, flow matching): refused.
    public var useExponentialSigmas: Bool = false
    public var useBetaSigmas: Bool = false
    public var useLuLambdas: Bool = false
    public var useFlowSigmas: Bool = false
    /// Euler with Karras sigmas: the ramp's ends (nil: the schedule's own).
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    public var interpolationType: SigmaInterpolation = .linear
    public var timestepType: TimestepType = .discrete
    public var finalSigmasType: FinalSigmasType = .zero
    // DPM-Solver (multistep).
    public var algorithmType: DPMSolverAlgorithm = .dpmsolverPlusPlus
    public var solverOrder: Int = 2
    public var solverType: DPMSolverType = .midpoint
    /// First-order steps at the end of short runs (fewer than 15 steps), as diffusers.
    public var lowerOrderFinal: Bool = true
    public var eulerAtFinal: Bool = false
    /// Clipping of log-SNR λ at the end of the run; nil is diffusers' −inf (no clipping), the only
    /// value sepme supports.
    public var lambdaMinClipped: Double?
    public var useDynamicShifting: Bool = false

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
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case useLuLambdas = "use_lu_lambdas"
        case useFlowSigmas = "use_flow_sigmas"
        case sigmaMin = "sigma_min"
        case sigmaMax = "sigma_max"
        case interpolationType = "interpolation_type"
        case timestepType = "timestep_type"
        case finalSigmasType = "final_sigmas_type"
        case algorithmType = "algorithm_type"
        case solverOrder = "solver_order"
        case solverType = "solver_type"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case lambdaMinClipped = "lambda_min_clipped"
        case useDynamicShifting = "use_dynamic_shifting"
    }

    /// diffusers' default `timestep_spacing` of a scheduler class: linspace for the Euler and
    /// DPM-Solver classes, leading for DDIM, DDPM and PNDM.
    static func defaultTimestepSpacing(className: String?) -> TimestepSpacing {
        let sigmaClasses = ["EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler"]
        return sigmaClasses.contains(className ?? "") ? .linspace : .leading
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try c.decodeIfPresent(String.self, forKey: .className)
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? numTrainTimesteps
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? betaStart
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? betaEnd
        betaSchedule = try c.decodeIfPresent(BetaSchedule.self, forKey: .betaSchedule) ?? betaSchedule
        trainedBetas = try c.decodeIfPresent([Double].self, forKey: .trainedBetas)
        clipSample = try c.decodeIfPresent(Bool.self, forKey: .clipSample)
        clipSampleRange = try c.decodeIfPresent(Double.self, forKey: .clipSampleRange) ?? clipSampleRange
        setAlphaToOne = try c.decodeIfPresent(Bool.self, forKey: .setAlphaToOne) ?? setAlphaToOne
        stepsOffset = try c.decodeIfPresent(Int.self, forKey: .stepsOffset) ?? stepsOffset
        predictionType = try c.decodeIfPresent(PredictionType.self, forKey: .predictionType) ?? predictionType
        timestepSpacing =
            try c.decodeIfPresent(TimestepSpacing.self, forKey: .timestepSpacing) ?? Self.defaultTimestepSpacing(className: className)
        thresholding = try c.decodeIfPresent(Bool.self, forKey: .thresholding) ?? thresholding
        varianceType = try c.decodeIfPresent(VarianceType.self, forKey: .varianceType)
        rescaleBetasZeroSnr = try c.decodeIfPresent(Bool.self, forKey: .rescaleBetasZeroSnr) ?? rescaleBetasZeroSnr
        skipPrkSteps = try c.decodeIfPresent(Bool.self, forKey: .skipPrkSteps) ?? skipPrkSteps
        try decodeSigmaSamplerFields(c)
    }

    private mutating func decodeSigmaSamplerFields(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        useKarrasSigmas = try c.decodeIfPresent(Bool.self, forKey: .useKarrasSigmas) ?? useKarrasSigmas
        useExponentialSigmas = try c.decodeIfPresent(Bool.self, forKey: .useExponentialSigmas) ?? useExponentialSigmas
        useBetaSigmas = try c.decodeIfPresent(Bool.self, forKey: .useBetaSigmas) ?? useBetaSigmas
        useLuLambdas = try c.decodeIfPresent(Bool.self, forKey: .useLuLambdas) ?? useLuLambdas
        useFlowSigmas = try c.decodeIfPresent(Bool.self, forKey: .useFlowSigmas) ?? useFlowSigmas
        sigmaMin = try c.decodeIfPresent(Double.self, forKey: .sigmaMin)
        sigmaMax = try c.decodeIfPresent(Double.self, forKey: .sigmaMax)
        interpolationType = try c.decodeIfPresent(SigmaInterpolation.self, forKey: .interpolationType) ?? interpolationType
        timestepType = try c.decodeIfPresent(TimestepType.self, forKey: .timestepType) ?? timestepType
        finalSigmasType = try c.decodeIfPresent(FinalSigmasType.self, forKey: .finalSigmasType) ?? finalSigmasType
        algorithmType = try c.decodeIfPresent(DPMSolverAlgorithm.self, forKey: .algorithmType) ?? algorithmType
        solverOrder = try c.decodeIfPresent(Int.self, forKey: .solverOrder) ?? solverOrder
        solverType = try c.decodeIfPresent(DPMSolverType.self, forKey: .solverType) ?? solverType
        lowerOrderFinal = try c.decodeIfPresent(Bool.self, forKey: .lowerOrderFinal) ?? lowerOrderFinal
        eulerAtFinal = try c.decodeIfPresent(Bool.self, forKey: .eulerAtFinal) ?? eulerAtFinal
        useDynamicShifting = try c.decodeIfPresent(Bool.self, forKey: .useDynamicShifting) ?? useDynamicShifting
        // Python's json writes −inf as the bare literal -Infinity, which `load` quotes.
        if (try? c.decodeIfPresent(String.self, forKey: .lambdaMinClipped)) == "-Infinity" {
            lambdaMinClipped = nil
        } else {
            lambdaMinClipped = try c.decodeIfPresent(Double.self, forKey: .lambdaMinClipped)
        }
    }

    /// Largest `num_train_timesteps` accepted: 100,000 (diffusers' models use 1,000; the schedule
    /// arrays are a few hundred kB at this size).
    public static let maximumTrainTimesteps = 100_000

    /// Reads and validates `scheduler_config.json`: field types first ("num_train_timesteps: expected
    /// an integer, got 2.5"), then values (`validate`).
    public static func load(from url: URL) throws -> SchedulerConfiguration {
        let file: ConfigurationFile
        do {
            file = try ConfigurationFile(
                path: url.path, data: PythonJSONLiterals.quoted(ConfigurationFile.readRegularFile(url, limit: ConfigurationFile.maximumSize)))
            try file.check(
                integers: [
                    "num_train_timesteps": 1...maximumTrainTimesteps,
                    "steps_offset": 0...maximumTrainTimesteps,
                    "solver_order": 1...3
                ],
                numbers: ["beta_start", "beta_end", "clip_sample_range", "sigma_min", "sigma_max"],
                strings: [
                    "_class_name", "beta_schedule", "prediction_type", "timestep_spacing", "variance_type", "interpolation_type",
                    "timestep_type", "final_sigmas_type", "algorithm_type", "solver_type"
                ],
                booleans: [
                    "clip_sample", "set_alpha_to_one", "thresholding", "rescale_betas_zero_snr", "skip_prk_steps", "use_karras_sigmas",
                    "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas", "lower_order_final",
                    "euler_at_final", "use_dynamic_shifting"
                ])
        } catch let error as ConfigurationFileError {
            throw SchedulerError.unreadableConfig(path: url.path, reason: error.detail)
        }
        let config: SchedulerConfiguration
        do { config = try JSONDecoder().decode(SchedulerConfiguration.self, from: file.data) } catch {
            throw SchedulerError.unreadableConfig(path: url.path, reason: file.explain(error).detail)
        }
        try config.validate(source: url.path)
        return config
    }

    /// Throws `SchedulerError.invalidConfig` naming `source` and the field for every value the samplers
    /// cannot use, including any beta schedule whose betas leave (0, 1) or whose ᾱ_t (a divisor in
    /// every step) is not a positive finite number.
    public func validate(source: String) throws {
        func fail(_ reason: String) -> SchedulerError { .invalidConfig(source, reason) }
        guard (1...Self.maximumTrainTimesteps).contains(numTrainTimesteps) else {
            throw fail("num_train_timesteps \(numTrainTimesteps) is outside the allowed range 1...\(Self.maximumTrainTimesteps)")
        }
        guard (0..<numTrainTimesteps).contains(stepsOffset) else {
            throw fail("steps_offset \(stepsOffset) must be between 0 and \(numTrainTimesteps - 1) (num_train_timesteps - 1)")
        }
        if thresholding { throw fail("thresholding (dynamic thresholding) is not supported") }
        for (key, value) in [("sigma_min", sigmaMin), ("sigma_max", sigmaMax)] {
            if let value, !(value.isFinite && value > 0) { throw fail("\(key) must be a positive number, got \(value)") }
        }
        if let sigmaMin, let sigmaMax, sigmaMin > sigmaMax { throw fail("sigma_min \(sigmaMin) is larger than sigma_max \(sigmaMax)") }
        guard (1...3).contains(solverOrder) else { throw fail("solver_order \(solverOrder) is outside the allowed range 1...3") }
        guard clipSampleRange.isFinite, clipSampleRange > 0 else {
            throw fail("clip_sample_range must be a positive number, got \(clipSampleRange)")
        }
        if let trainedBetas {
            guard trainedBetas.count == numTrainTimesteps else {
                throw fail("trained_betas has \(trainedBetas.count) values for \(numTrainTimesteps) timesteps")
            }
            if let i = trainedBetas.firstIndex(where: { !($0 > 0 && $0 < 1) }) {
                throw fail("trained_betas[\(i)] = \(trainedBetas[i]) must be in the open interval (0, 1)")
            }
        } else if betaSchedule != .squaredCosCapV2 {
            guard betaStart.isFinite, betaStart > 0, betaStart < 1 else {
                throw fail("beta_start \(betaStart) must be in the open interval (0, 1)")
            }
            guard betaEnd.isFinite, betaEnd > 0, betaEnd < 1 else {
                throw fail("beta_end \(betaEnd) must be in the open interval (0, 1)")
            }
            guard betaEnd >= betaStart else { throw fail("beta_end \(betaEnd) is smaller than beta_start \(betaStart)") }
        }
        let schedule = NoiseSchedule(self)
        // The computed betas (float32 rounding of the schedule) must stay in (0, 1) too.
        let ownBetas = trainedBetas == nil ? schedule.betas : []
        if !rescaleBetasZeroSnr, let i = ownBetas.firstIndex(where: { !($0 > 0 && $0 < 1) }) {
            throw fail("beta_schedule \(betaSchedule.rawValue) gives beta \(ownBetas[i]) at timestep \(i), outside (0, 1)")
        }
        // Zero-terminal-SNR rescaling makes the last ᾱ 0 by design (Lin et al. 2023, §3.1).
        let checked = rescaleBetasZeroSnr ? schedule.alphasCumprod.dropLast() : schedule.alphasCumprod[...]
        if let i = checked.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw fail(
                "the beta schedule makes the cumulative product of alphas \(schedule.alphasCumprod[i]) at timestep \(i); "
                    + "it must stay a positive finite number (lower beta_end or the trained_betas)")
        }
        if rescaleBetasZeroSnr, let last = schedule.alphasCumprod.last, !last.isFinite {
            throw fail("rescale_betas_zero_snr gives a non-finite cumulative product of alphas at the last timestep")
        }
    }

    /// The largest step count whose leading-spaced timesteps (`i · (T / steps) + steps_offset`) stay
    /// below `num_train_timesteps`.
    func maximumLeadingSteps() -> Int {
        let T = numTrainTimesteps
        var steps = T
        while steps > 1 && (steps - 1) * (T / steps) + stepsOffset >= T { steps -= 1 }
        return steps
    }
}

public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    case unreadableConfig(path: String, reason: String)
    case invalidConfig(String, String)
    case unknownScheduler(String)
    /// A step count outside `1...maximum`; `maximum` is the training timestep count, less where
    /// `steps_offset` would push the last timestep past it.
    case invalidStepCount(requested: Int, maximum: Int, trainTimesteps: Int)

    public var description: String {
        switch self {
        case .unreadableConfig(let path, let reason): return "\(path): \(reason)"
        case .invalidConfig(let source, let reason): return "\(source): \(reason)"
        case .unknownScheduler(let name):
            return
                "scheduler '\(name)' is not supported (sepme samples with \(SamplerKind.allNames); choose one of them to sample from this folder's configuration)"
        case .invalidStepCount(let n, let maximum, let t):
            let why =
                maximum == t
                ? "the scheduler's training timesteps" : "the most that the scheduler's \(t) training timesteps allow with its steps_offset"
            return "steps \(n) must be between 1 and \(maximum) (\(why))"
        }
    }
}
