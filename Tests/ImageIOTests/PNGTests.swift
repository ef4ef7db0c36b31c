import Foundation
import ImageIO
import XCTest

final class PNGTests: XCTestCase {
    struct Expected: Decodable {
        let width: Int
        let height: Int
        let rgb: [UInt8]
    }

    func testDecodesPillowFilesOfEveryColourType() throws {
        let dir = Bundle.module.url(forResource: "Resources", withExtension: nil)!
        let expected = try JSONDecoder().decode(
            [String: Expected].self,
            from: Data(contentsOf: dir.appendingPathComponent("expected.json")))
        XCTAssertEqual(Set(expected.keys), ["rgb", "rgba", "grey", "palette", "grey_alpha"])
        for (name, e) in expected {
            let img = try PNG.read(path: dir.appendingPathComponent(name + ".png").path)
            XCTAssertEqual(img.width, e.width, name)
            XCTAssertEqual(img.height, e.height, name)
            XCTAssertEqual(img.pixels, e.rgb, name)
        }
    }

    func testRoundTripAndAtomicWrite() throws {
        var img = RGBImage(width: 5, height: 3)
        for i in 0..<img.pixels.count { img.pixels[i] = UInt8((i * 37) % 256) }
        XCTAssertEqual(try PNG.decode(PNG.encode(img)), img)
        let path = NSTemporaryDirectory() + "sepme-png-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PNG.write(img, to: path)
        XCTAssertEqual(try PNG.read(path: path), img)
        XCTAssertThrowsError(try PNG.write(img, to: "/nonexistent-dir/x.png")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent-dir/x.png"), "\(e)")
            XCTAssertTrue("\(e)".contains("No such file or directory"), "\(e)")
        }
        XCTAssertThrowsError(try PNG.encode(RGBImage(width: 0, height: 3))) { e in
            guard case .unencodable(0, 3, _)? = e as? PNG.Error else { return XCTFail("\(e)") }
        }
    }

    func testCorruptInputGivesNamedErrors() throws {
        XCTAssertThrowsError(try PNG.decode([1, 2, 3], path: "a.png")) { e in
            XCTAssertEqual(e as? PNG.Error, .notPNG(path: "a.png"))
        }
        var bytes = try PNG.encode(RGBImage(width: 4, height: 4, fill: 9))
        bytes.removeLast(20)
        XCTAssertThrowsError(try PNG.decode(bytes, path: "b.png")) { e in
            XCTAssertTrue("\(e)".hasPrefix("b.png: corrupt PNG"), "\(e)")
        }
    }
}
