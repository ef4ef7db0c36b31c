import CZlib
import Foundation
import ImageIO
import TensorEngine
import XCTest

/// Seeded mutation fuzzing of `PNG.decode`: every mutated file either decodes to a consistent image or
/// throws a `PNG.Error` naming the file, never traps.
final class PNGFuzzTests: XCTestCase {

    /// Valid files to mutate: the Pillow fixtures (every colour type) and this encoder's output.
    func seeds() throws -> [[UInt8]] {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Resources", withExtension: nil))
        var out = try ["rgb", "rgba", "grey", "palette", "grey_alpha"].map {
            [UInt8](try Data(contentsOf: dir.appendingPathComponent($0 + ".png")))
        }
        var image = RGBImage(width: 7, height: 5)
        for i in image.pixels.indices { image.pixels[i] = UInt8((i * 53) % 256) }
        out.append(try PNG.encode(image))
        for (depth, colorType, width) in [(1, 0, 9), (2, 0, 5), (4, 3, 3), (16, 6, 2), (16, 2, 3), (16, 4, 2)] {
            let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 1
            let stride = (width * depth * channels + 7) / 8
            var rows: [UInt8] = []
            for y in 0..<3 {
                rows.append(UInt8(y % 5))
                rows += (0..<stride).map { UInt8(($0 * 29 + y * 7) % 256) }
            }
            let palette: [(String, [UInt8])] = colorType == 3 ? [("PLTE", (0..<48).map { UInt8($0 * 5) })] : []
            out.append(
                PNGHostileInputTests.png(
                    width: UInt32(width), height: 3, depth: UInt8(depth), colorType: UInt8(colorType),
                    idat: PNGHostileInputTests.zlib(rows), extra: palette))
        }
        for seed in out { XCTAssertNoThrow(try PNG.decode(seed), "seed files must decode") }
        return out
    }

    func mutate(_ original: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = original
        // One mutation in two cases of three, up to four in the rest.
        let mutations = rng.below(3) == 0 ? 1 + rng.below(4) : 1
        for _ in 0..<mutations {
            guard !bytes.isEmpty else { break }
            let at = rng.below(bytes.count)
            switch rng.below(8) {
            case 0: bytes[at] ^= UInt8(1 << rng.below(8))
            case 1: bytes[at] = [0, 0xFF, 0x7F, 0x80, 1][rng.below(5)]
            case 2: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            case 3: bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.below(16)))
            case 4: bytes.insert(contentsOf: (0...rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 5: bytes = Array(bytes.prefix(at))
            case 6:
                // A width or height field (IHDR body at byte 16) set to an extreme value.
                let field = 16 + 4 * rng.below(2)
                if bytes.count >= field + 4 {
                    let value: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0x40, 0]][
                        rng.below(5)]
                    bytes.replaceSubrange(field..<(field + 4), with: value)
                }
            default:
                // A chunk length field (first one at byte 8) set to an extreme value.
                if bytes.count >= 12 {
                    let value: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xF0], [0, 0, 0, 0], [0, 0, 0, 13]][rng.below(4)]
                    bytes.replaceSubrange(8..<12, with: value)
                }
            }
        }
        return bytes
    }

    /// Recomputes the CRC of every chunk that fits, so that mutations reach the decoder past the CRC check.
    func fixCRCs(_ bytes: inout [UInt8]) {
        var pos = 8
        while pos + 12 <= bytes.count {
            let length = Int(bytes[pos]) << 24 | Int(bytes[pos + 1]) << 16 | Int(bytes[pos + 2]) << 8 | Int(bytes[pos + 3])
            guard pos + 12 + length <= bytes.count else { return }
            let crc =
                bytes[(pos + 4)..<(pos + 8 + length)].withContiguousStorageIfAvailable {
                    UInt32(crc32(0, $0.baseAddress, uInt($0.count)))
                } ?? 0
            let at = pos + 8 + length
            bytes.replaceSubrange(at..<(at + 4), with: [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)])
            pos += 12 + length
        }
    }

    func testMutatedFilesDecodeConsistentlyOrThrowNamedErrors() throws {
        let seeds = try seeds()
        var rng = SplitMix64(seed: 20_241_202)
        var decoded = 0
        var kinds: [String: Int] = [:]
        let cases = 10_000
        for index in 0..<cases {
            var bytes = mutate(seeds[index % seeds.count], &rng)
            if index % 4 != 0 { fixCRCs(&bytes) }
            do {
                let image = try PNG.decode(bytes, path: "fuzz-\(index).png")
                XCTAssertGreaterThan(image.width, 0, "case \(index)")
                XCTAssertGreaterThan(image.height, 0, "case \(index)")
                XCTAssertLessThanOrEqual(image.width * image.height, RGBImage.maximumPixelCount, "case \(index)")
                XCTAssertEqual(image.pixels.count, image.width * image.height * 3, "case \(index)")
                decoded += 1
            } catch let error as PNG.Error {
                XCTAssertTrue("\(error)".hasPrefix("fuzz-\(index).png: "), "case \(index): \(error)")
                kinds[Mirror(reflecting: error).children.first?.label ?? "\(error)", default: 0] += 1
            } catch {
                XCTFail("case \(index): untyped error \(error)")
            }
        }
        print("PNG fuzz: \(cases) cases, \(decoded) decoded, errors by kind \(kinds.sorted { $0.key < $1.key })")
        // The mutations reach both outcomes and several kinds of error (a fuzzer that only ever hit the
        // signature check would prove nothing).
        XCTAssertGreaterThan(decoded, cases / 50, "\(kinds)")
        XCTAssertEqual(Set(kinds.keys), ["notPNG", "corrupt", "tooLarge", "unsupported"], "\(kinds)")
        XCTAssertGreaterThan(kinds["corrupt", default: 0], cases / 4, "\(decoded) decoded")
    }
}
