import ErasureEvaluation
import Foundation
import ImageIO
import XCTest

/// SSIM, pixel difference and Fréchet distance against scikit-image / scipy values written by
/// scripts/make_eval_fixtures.py.
final class MetricsTests: XCTestCase {
    struct Fixture: Decodable {
        struct SSIMCase: Decodable { let a: [UInt8], b: [UInt8], ssim: Double, mean_abs_diff: Double }
        struct FrechetCase: Decodable { let a: [[Double]], b: [[Double]], distance: Double }
        let ssim_cases: [SSIMCase]
        let frechet_cases: [FrechetCase]
    }

    func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "metrics", withExtension: "json", subdirectory: "Resources"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testSSIMAndPixelDifferenceMatchScikitImage() throws {
        let cases = try fixture().ssim_cases
        XCTAssertEqual(cases.count, 5)
        for (i, c) in cases.enumerated() {
            let a = RGBImage(width: 32, height: 32, pixels: c.a)
            let b = RGBImage(width: 32, height: 32, pixels: c.b)
            XCTAssertEqual(ImageMetrics.ssim(a, b), c.ssim, accuracy: 1e-9, "case \(i)")
            XCTAssertEqual(ImageMetrics.meanAbsoluteDifference(a, b), c.mean_abs_diff, accuracy: 1e-12, "case \(i)")
            XCTAssertEqual(ImageMetrics.identical(a, b), c.a == c.b)
        }
        // The cases span identical, similar, unrelated and anti-correlated pictures.
        XCTAssertEqual(cases[0].ssim, 1, accuracy: 1e-12)
        XCTAssertLessThan(cases[3].ssim, 0)
    }

    func testFrechetDistanceMatchesScipy() throws {
        for (i, c) in try fixture().frechet_cases.enumerated() {
            let d = try FrechetDistance.distance(c.a, c.b)
            XCTAssertEqual(d, c.distance, accuracy: 1e-6 * max(1, c.distance), "case \(i)")
        }
    }

    func testFrechetDistanceRejectsTooFewSamples() {
        XCTAssertThrowsError(try FrechetDistance.distance([[1, 2]], [[1, 2], [3, 4]]))
        XCTAssertThrowsError(try FrechetDistance.distance([[1, 2], [3, 4]], [[1], [3]]))
    }
}
