import Diffusion
import Foundation
import XCTest

final class SchedulerConfigurationTests: XCTestCase {
    func testUnknownFieldsIgnoredAndDefaultsApplied() throws {
        let json =
            #"{"_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "skip_prk_steps": true, "steps_offset": 1}"#
        let c = try JSONDecoder().decode(SchedulerConfiguration.self, from: Data(json.utf8))
        XCTAssertEqual(c.className, "PNDMScheduler")
        XCTAssertEqual(c.stepsOffset, 1)
        XCTAssertEqual(c.numTrainTimesteps, 1000)
        XCTAssertEqual(c.timestepSpacing, .leading)
    }

    func testInvalidValuesAreNamed() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-sched-\(UUID().uuidString).json")
        try Data(#"{"prediction_type": "noise"}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try SchedulerConfiguration.load(from: url)) { e in
            XCTAssertTrue("\(e)".contains("prediction_type") && "\(e)".contains("noise") && "\(e)".contains(url.path), "\(e)")
        }
        var lms = SchedulerConfiguration()
        lms.className = "LMSDiscreteScheduler"
        XCTAssertThrowsError(try SamplerKind.resolve(nil, config: lms)) { e in
            XCTAssertTrue("\(e)".contains("LMSDiscreteScheduler") && "\(e)".contains("euler-a"), "\(e)")
        }
    }

    /// One rule picks the sampler for generation and for the training-image cache: a name or class
    /// name in any case, else the folder's class, else DDIM.
    func testSchedulerKindResolution() throws {
        var folder = SchedulerConfiguration()
        folder.className = "DDPMScheduler"
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .ddpm)
        XCTAssertEqual(try SamplerKind.resolve(SamplerKind(name: "DDIM"), config: folder), .ddim)
        XCTAssertEqual(try SamplerKind.resolve(SamplerKind(name: "PNDMScheduler"), config: folder), .pndm)
        folder.className = nil
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .ddim)
        XCTAssertTrue(try SamplerKind.resolve(nil, config: folder).makeScheduler(config: folder) is DDIMScheduler)
        XCTAssertEqual(SamplerKind(name: "DdpmScheduler"), .ddpm)
        XCTAssertNil(SamplerKind(name: "heun"))
        let decoded = try JSONDecoder().decode([SamplerKind].self, from: Data(#"["ddim", "PNDMScheduler", "euler_a"]"#.utf8))
        XCTAssertEqual(decoded, [.ddim, .pndm, .eulerAncestral])
        XCTAssertThrowsError(try JSONDecoder().decode([SamplerKind].self, from: Data(#"["lms"]"#.utf8)))
        // The folder's own class is the default, with its Karras setting.
        folder.className = "EulerDiscreteScheduler"
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .euler)
        XCTAssertTrue(try SamplerKind.resolve(nil, config: folder).makeScheduler(config: folder) is EulerDiscreteScheduler)
        folder.useKarrasSigmas = true
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .eulerKarras)
        folder.className = "DPMSolverMultistepScheduler"
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .dpmSolverPlusPlus2MKarras)
        folder.useKarrasSigmas = false
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .dpmSolverPlusPlus2M)
        folder.className = "EulerAncestralDiscreteScheduler"
        XCTAssertEqual(try SamplerKind.resolve(nil, config: folder), .eulerAncestral)
    }

    /// The names users type (A1111 / ComfyUI spellings, diffusers' class names) in any case.
    func testSamplerNames() {
        let expected: [String: SamplerKind] = [
            "euler": .euler, "Euler": .euler, "EulerDiscreteScheduler": .euler, "euler-karras": .eulerKarras,
            "euler_karras": .eulerKarras, "euler-a": .eulerAncestral, "Euler a": .eulerAncestral,
            "euler_ancestral": .eulerAncestral, "EulerAncestralDiscreteScheduler": .eulerAncestral,
            "dpm++2m": .dpmSolverPlusPlus2M, "DPM++ 2M": .dpmSolverPlusPlus2M, "dpmpp_2m": .dpmSolverPlusPlus2M,
            "DPMSolverMultistepScheduler": .dpmSolverPlusPlus2M, "dpm++2m-karras": .dpmSolverPlusPlus2MKarras,
            "DPM++ 2M Karras": .dpmSolverPlusPlus2MKarras, "dpmpp_2m_karras": .dpmSolverPlusPlus2MKarras
        ]
        for (name, kind) in expected { XCTAssertEqual(SamplerKind(name: name), kind, name) }
        for kind in SamplerKind.allCases { XCTAssertEqual(SamplerKind(name: kind.rawValue), kind) }
        // A Karras name sets use_karras_sigmas, the plain name clears it, whatever the folder says.
        var config = SchedulerConfiguration()
        config.useKarrasSigmas = true
        XCTAssertEqual((try? SamplerKind.euler.makeScheduler(config: config))?.configuration.useKarrasSigmas, false)
        config.useKarrasSigmas = false
        XCTAssertEqual((try? SamplerKind.dpmSolverPlusPlus2MKarras.makeScheduler(config: config))?.configuration.useKarrasSigmas, true)
    }

    /// diffusers' defaults differ by class: timestep_spacing is linspace for Euler and DPM-Solver.
    func testTimestepSpacingDefaultFollowsTheClass() throws {
        for (name, spacing) in [
            ("EulerDiscreteScheduler", TimestepSpacing.linspace), ("EulerAncestralDiscreteScheduler", .linspace),
            ("DPMSolverMultistepScheduler", .linspace), ("DDIMScheduler", .leading), ("PNDMScheduler", .leading)
        ] {
            let c = try JSONDecoder().decode(SchedulerConfiguration.self, from: Data(#"{"_class_name": "\#(name)"}"#.utf8))
            XCTAssertEqual(c.timestepSpacing, spacing, name)
        }
    }

    /// A DPM-Solver folder as diffusers saves it (Python's json writes -Infinity) loads with its values.
    func testDiffusersDPMSolverConfigLoads() throws {
        let json = #"""
            {"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.42.1", "algorithm_type": "dpmsolver++",
             "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "dynamic_thresholding_ratio": 0.995,
             "euler_at_final": false, "final_sigmas_type": "zero", "flow_shift": 1.0, "lambda_min_clipped": -Infinity,
             "lower_order_final": true, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
             "rescale_betas_zero_snr": false, "sample_max_value": 1.0, "solver_order": 2, "solver_type": "midpoint",
             "steps_offset": 1, "thresholding": false, "time_shift_type": "exponential", "timestep_spacing": "leading",
             "trained_betas": null, "use_beta_sigmas": false, "use_dynamic_shifting": false, "use_exponential_sigmas": false,
             "use_flow_sigmas": false, "use_karras_sigmas": true, "use_lu_lambdas": false, "variance_type": null,
             "note": "a string with -Infinity and NaN \"inside\""}
            """#
        let config = try load(json)
        XCTAssertNil(config.lambdaMinClipped)
        XCTAssertTrue(config.useKarrasSigmas)
        XCTAssertEqual(config.predictionType, .vPrediction)
        XCTAssertEqual(try SamplerKind.resolve(nil, config: config), .dpmSolverPlusPlus2MKarras)
        let scheduler = try SamplerKind.resolve(nil, config: config).makeScheduler(config: config)
        try scheduler.setTimesteps(10)
        XCTAssertEqual(scheduler.timesteps.count, 10)
        // A non-finite literal where a number belongs is named.
        XCTAssertThrowsError(try load(#"{"beta_end": NaN}"#)) { e in XCTAssertTrue("\(e)".contains("beta_end"), "\(e)") }
    }

    /// Values the samplers cannot use are refused with the key and value, at load or when the
    /// sampler is built, never a trap.
    func testUnsupportedSamplerSettingsAreNamed() throws {
        XCTAssertThrowsError(try load(#"{"algorithm_type": "dpmsolver+++"}"#)) { e in
            XCTAssertTrue("\(e)".contains("algorithm_type") && "\(e)".contains("dpmsolver+++"), "\(e)")
        }
        XCTAssertThrowsError(try load(#"{"solver_order": 4}"#)) { e in XCTAssertTrue("\(e)".contains("solver_order"), "\(e)") }
        XCTAssertThrowsError(try load(#"{"solver_type": "bh2"}"#)) { e in XCTAssertTrue("\(e)".contains("solver_type"), "\(e)") }
        XCTAssertThrowsError(try load(#"{"final_sigmas_type": "one"}"#)) { e in XCTAssertTrue("\(e)".contains("final_sigmas_type"), "\(e)") }
        XCTAssertThrowsError(try load(#"{"sigma_min": -1}"#)) { e in XCTAssertTrue("\(e)".contains("sigma_min"), "\(e)") }
        XCTAssertThrowsError(try load(#"{"lambda_min_clipped": "-Inf"}"#)) { e in XCTAssertTrue("\(e)".contains("lambda_min_clipped"), "\(e)") }
        let refusedWhenBuilt: [(String, SamplerKind, String)] = [
            (#"{"solver_order": 3}"#, .dpmSolverPlusPlus2M, "solver_order 3"),
            (#"{"algorithm_type": "sde-dpmsolver++"}"#, .dpmSolverPlusPlus2M, "algorithm_type sde-dpmsolver++"),
            (#"{"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"}"#, .dpmSolverPlusPlus2MKarras, "algorithm_type dpmsolver"),
            (#"{"lambda_min_clipped": -5.1}"#, .dpmSolverPlusPlus2M, "lambda_min_clipped -5.1"),
            (#"{"use_lu_lambdas": true}"#, .dpmSolverPlusPlus2M, "use_lu_lambdas"),
            (#"{"use_exponential_sigmas": true}"#, .euler, "use_exponential_sigmas"),
            (#"{"interpolation_type": "log_linear"}"#, .euler, "interpolation_type log_linear"),
            (#"{"timestep_type": "continuous", "prediction_type": "v_prediction"}"#, .eulerKarras, "timestep_type continuous"),
            (#"{"prediction_type": "sample"}"#, .eulerAncestral, "prediction_type sample"),
            (#"{"prediction_type": "sample", "skip_prk_steps": true}"#, .pndm, "prediction_type sample"),
            (#"{"num_train_timesteps": 1}"#, .euler, "num_train_timesteps 1")
        ]
        for (json, kind, named) in refusedWhenBuilt {
            let config = try load(json)
            XCTAssertThrowsError(try kind.makeScheduler(config: config), json) { e in
                XCTAssertTrue(e is SchedulerError && "\(e)".contains(named), "\(json): \(e)")
            }
        }
        // Every sampler takes every prediction type diffusers' class takes.
        for kind in SamplerKind.allCases {
            for prediction in PredictionType.allCases {
                var config = SchedulerConfiguration()
                config.skipPrkSteps = true
                config.predictionType = prediction
                let refused = prediction == .sample && (kind == .pndm || kind == .eulerAncestral)
                XCTAssertEqual((try? kind.makeScheduler(config: config)) == nil, refused, "\(kind) with \(prediction.rawValue)")
            }
        }
    }

    private func load(_ json: String) throws -> SchedulerConfiguration {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sepme-sched-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try SchedulerConfiguration.load(from: url)
    }
}
