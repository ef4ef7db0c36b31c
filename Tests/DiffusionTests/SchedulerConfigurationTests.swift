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
        var euler = SchedulerConfiguration()
        euler.className = "euler"
        XCTAssertThrowsError(try SamplerKind.resolve(nil, config: euler)) { e in
            XCTAssertTrue("\(e)".contains("euler"), "\(e)")
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
        XCTAssertNil(SamplerKind(name: "euler"))
        let decoded = try JSONDecoder().decode([SamplerKind].self, from: Data(#"["ddim", "PNDMScheduler"]"#.utf8))
        XCTAssertEqual(decoded, [.ddim, .pndm])
        XCTAssertThrowsError(try JSONDecoder().decode([SamplerKind].self, from: Data(#"["euler"]"#.utf8)))
        folder.className = "EulerDiscreteScheduler"
        XCTAssertThrowsError(try SamplerKind.resolve(nil, config: folder)) { e in
            XCTAssertTrue("\(e)".contains("EulerDiscreteScheduler"), "\(e)")
        }
    }
}
