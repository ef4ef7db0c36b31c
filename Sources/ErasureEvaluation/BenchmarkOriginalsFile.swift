import Foundation
import ImageIO
import SafeTensors
import Toy

/// The original model's benchmark images on disk (`targets/original-images.safetensors`), so that
/// a resumed benchmark, or a later one of another method into the same folder, does not generate
/// them again: one U8 tensor `images` [prompts, seeds, height, width, 3] and, in the metadata under
/// `sepme_benchmark_originals`, the JSON of `Contents` (the model, the sampling settings and grid
/// they were made with, and the prompts in tensor order).
///
/// The file is a cache: one made with another model, other settings or another grid is not an
/// error, it is simply not used (`read` returns nil and says why).
enum BenchmarkOriginalsFile {
    static let metadataKey = "sepme_benchmark_originals"
    static let tensorName = "images"

    /// What the metadata records.
    struct Contents: Codable, Equatable {
        var model: String
        var key: BenchmarkOriginals.Key
        var prompts: [String]
    }

    static func url(_ output: URL) -> URL {
        output.appendingPathComponent("targets").appendingPathComponent("original-images.safetensors")
    }

    /// Writes `originals`' images of `prompts` (every prompt must have the same number of images,
    /// all of one size), atomically.
    static func write(_ originals: BenchmarkOriginals, prompts: [String], model: String, to url: URL) throws {
        try write(originals.images, prompts: prompts, model: model, key: originals.key, to: url)
    }

    /// Writes the images of `prompts` (`key.seedsPerPrompt` each, all of one size), atomically;
    /// `model` names what made them (for images of an erased model: the model and its shifts).
    static func write(_ images: [String: [RGBImage]], prompts: [String], model: String, key: BenchmarkOriginals.Key, to url: URL) throws {
        let rows = try prompts.map { p in
            guard let row = images[p], row.count == key.seedsPerPrompt else { throw EvaluationError.invalidPrompts("no images for '\(p)'") }
            return row
        }
        guard let first = rows.first?.first else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prompts.count * key.seedsPerPrompt * first.pixels.count)
        for row in rows {
            for image in row {
                guard image.width == first.width, image.height == first.height else {
                    throw EvaluationError.invalidArgument("the original images are not all \(first.width)x\(first.height)")
                }
                bytes += image.pixels
            }
        }
        var writer = SafeTensorsWriter()
        try writer.add(tensorName, shape: [prompts.count, key.seedsPerPrompt, first.height, first.width, 3], bytes: bytes)
        let contents = Contents(model: model, key: key, prompts: prompts)
        let json = String(decoding: try JSONEncoder().encode(contents), as: UTF8.self)
        try writer.write(to: url.path, metadata: [metadataKey: json])
    }

    /// The images stored at `url` by prompt, when the file exists and was made by `model` with
    /// `key` for at least `prompts` (for some of them when `partial`); otherwise nil, with the
    /// reason passed to `skipped` (a missing file gives no reason).
    static func read(
        at url: URL, model: String, key: BenchmarkOriginals.Key, prompts: [String], partial: Bool = false, skipped: (String) -> Void
    ) -> [String: [RGBImage]]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let file = try SafeTensorsFile(path: url.path)
            guard let json = file.metadata[metadataKey] else {
                skipped("\(url.path) has no '\(metadataKey)' metadata")
                return nil
            }
            let contents = try JSONDecoder().decode(Contents.self, from: Data(json.utf8))
            guard contents.model == model, contents.key == key else {
                skipped("\(url.path) was made with another model or other sampling settings or grid")
                return nil
            }
            guard partial || Set(prompts).isSubset(of: contents.prompts) else {
                skipped("\(url.path) lacks some of the grid's prompts")
                return nil
            }
            let info = try file.info(tensorName)
            let shape = info.shape
            guard info.dtype == .u8, shape.count == 5, shape[0] == contents.prompts.count, shape[1] == key.seedsPerPrompt,
                shape[2] > 0, shape[3] > 0, shape[4] == 3
            else {
                skipped("\(url.path): tensor '\(tensorName)' is \(info.dtype.rawValue) \(shape), not U8 [prompts, seeds, height, width, 3]")
                return nil
            }
            let raw = try file.rawBytes(tensorName)
            let imageBytes = shape[2] * shape[3] * 3
            var images: [String: [RGBImage]] = [:]
            for (p, prompt) in contents.prompts.enumerated() {
                images[prompt] = (0..<shape[1]).map { s in
                    let start = (p * shape[1] + s) * imageBytes
                    return RGBImage(width: shape[3], height: shape[2], pixels: Array(raw[start..<(start + imageBytes)]))
                }
            }
            return images
        } catch {
            skipped("\(url.path) could not be read (\(error))")
            return nil
        }
    }
}
