import ArgumentParser
import Foundation
import ImageIO
import TensorEngine
import Toy

/// `sepme classify`: the toy classifier's reading of PNG pictures (single 32x32 images or the contact
/// sheets `generate --batch-size` and `toy-samples` write), one line per picture.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Score 32x32 pictures (or contact sheets of them) with the toy classifier: shape, colour, style, watermark.")

    @Argument(help: "PNG files: one 32x32 picture, or a sheet of them 'gap' pixels apart.") var images: [String]
    @Option(help: "Pixels between the pictures of a sheet (sepme's sheets use 2).") var gap: Int = 2
    @Option(help: "Classifier file (default: the bundled toy classifier).") var classifier: String?
    @Flag(help: "One JSON object per picture instead of a table.") var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one PNG file") }
        guard gap >= 0 else { throw ValidationError("--gap must be >= 0, got \(gap)") }
    }

    func run() throws {
        let scorer = try classifier.map { try ToyClassifier.load(path: $0) } ?? ToyClassifier.bundled()
        let n = ToyConcepts.imageSize
        if !json { print("file\tpicture\tshape\tcolour\tstyle\twatermark") }
        for path in images {
            let sheet = try PNG.read(path: path)
            guard let tiles = sheet.tiles(width: n, height: n, gap: gap), !tiles.isEmpty else {
                throw ValidationError("\(path): \(sheet.width)x\(sheet.height) is not a sheet of \(n)x\(n) pictures \(gap) px apart (see --gap)")
            }
            let logits = GradMode.withNoGrad { scorer(ToyDataset.tensor(tiles)) }
            // Per head: the most likely label of every picture and its softmax probability.
            let heads = [("shape", ToyConcepts.shapes, logits.shape), ("colour", ToyConcepts.colours, logits.colour),
                         ("style", ToyConcepts.styles, logits.style), ("watermark", ["no", "logo"], logits.watermark)]
                .map { name, labels, l -> (name: String, labels: [String], top: [Int], probabilities: Tensor) in
                    let p = GradMode.withNoGrad { l.softmax() }
                    return (name, labels, ToyClassifier.argmax(p), p)
                }
            for t in tiles.indices {
                let readings = heads.map { h in
                    (name: h.name, label: h.labels[h.top[t]], probability: Self.format(h.probabilities.pointer[t * h.labels.count + h.top[t]]))
                }
                if json {
                    let fields = readings.map { "\"\($0.name)\": {\"label\": \"\($0.label)\", \"probability\": \($0.probability)}" }
                    print("{\"file\": \(Self.quoted(path)), \"picture\": \(t), " + fields.joined(separator: ", ") + "}")
                } else {
                    print("\(path)\t\(t)\t" + readings.map { "\($0.label) \($0.probability)" }.joined(separator: "\t"))
                }
            }
        }
    }

    static func format(_ p: Float) -> String { String(format: "%.3f", Double(p)) }

    static func quoted(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
