import ArgumentParser
import Foundation
import ImageIO
import TensorEngine
import Toy

/// `sepme classify`: the toy classifier's reading of PNG pictures (single 32x32 images or the contact
/// sheets `generate --batch-size` and `toy-samples` write), one line per picture. A sheet is scored
/// `picturesPerCall` pictures at a time, so its size bounds only the decoded PNG, not the network's
/// activations.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Score 32x32 pictures (or contact sheets of them) with the toy classifier: shape, colour, style, watermark.")

    static let picturesPerCall = 256
    static let maxGap = 1024

    @Argument(help: "PNG files: one 32x32 picture, or a sheet of them 'gap' pixels apart.") var images: [String]
    @Option(help: "Pixels between the pictures of a sheet (sepme's sheets use 2).") var gap: Int = 2
    @Option(help: "Classifier file (default: the bundled toy classifier).") var classifier: String?
    @Flag(help: "One JSON object per picture instead of a table.") var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one PNG file") }
        for path in images { try FlagCheck.nonEmpty("a PNG file argument", path) }
        try FlagCheck.range("--gap", gap, 0...Self.maxGap)
        if let classifier { try FlagCheck.nonEmpty("--classifier", classifier) }
    }

    func run() throws {
        try CommandFailure.reporting {
            let scorer = try classifier.map { try ToyClassifier.load(path: $0) } ?? ToyClassifier.bundled()
            if !json { print("file\tpicture\tshape\tcolour\tstyle\twatermark") }
            for path in images { try classify(path, with: scorer) }
        }
    }

    private func classify(_ path: String, with scorer: ToyClassifier) throws {
        let n = ToyConcepts.imageSize
        let sheet = try PNG.read(path: path)
        guard (sheet.width + gap) % (n + gap) == 0, (sheet.height + gap) % (n + gap) == 0 else {
            throw CommandLineError("\(path): \(sheet.width)x\(sheet.height) is not a sheet of \(n)x\(n) pictures \(gap) px apart (see --gap)")
        }
        let columns = (sheet.width + gap) / (n + gap)
        let count = columns * ((sheet.height + gap) / (n + gap))
        for first in stride(from: 0, to: count, by: Self.picturesPerCall) {
            let indices = first..<min(first + Self.picturesPerCall, count)
            let tiles = indices.map { Self.tile($0, of: sheet, columns: columns, size: n, gap: gap) }
            let logits = GradMode.withNoGrad { scorer(ToyDataset.tensor(tiles)) }
            // Per head: the most likely label of every picture and its softmax probability.
            let heads = [
                ("shape", ToyConcepts.shapes, logits.shape), ("colour", ToyConcepts.colours, logits.colour),
                ("style", ToyConcepts.styles, logits.style), ("watermark", ["no", "logo"], logits.watermark)
            ]
            .map { name, labels, l -> (name: String, labels: [String], top: [Int], probabilities: Tensor) in
                let p = GradMode.withNoGrad { l.softmax() }
                return (name, labels, ToyClassifier.argmax(p), p)
            }
            for (t, picture) in indices.enumerated() {
                let readings = heads.map { h in
                    (name: h.name, label: h.labels[h.top[t]], probability: Self.format(h.probabilities.pointer[t * h.labels.count + h.top[t]]))
                }
                if json {
                    let fields = readings.map { "\"\($0.name)\": {\"label\": \"\($0.label)\", \"probability\": \($0.probability)}" }
                    print("{\"file\": \(Self.quoted(path)), \"picture\": \(picture), " + fields.joined(separator: ", ") + "}")
                } else {
                    print("\(TerminalText.sanitized(path))\t\(picture)\t" + readings.map { "\($0.label) \($0.probability)" }.joined(separator: "\t"))
                }
            }
        }
    }

    /// Picture `index` (row-major) of a sheet of `size` x `size` pictures `gap` pixels apart.
    static func tile(_ index: Int, of sheet: RGBImage, columns: Int, size: Int, gap: Int) -> RGBImage {
        sheet.crop(x: (index % columns) * (size + gap), y: (index / columns) * (size + gap), width: size, height: size)
    }

    static func format(_ p: Float) -> String { String(format: "%.3f", Double(p)) }

    /// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
                    || (scalar.value <= 0xFFFF && scalar.properties.generalCategory == .format)
                {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
