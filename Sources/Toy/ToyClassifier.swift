import Foundation
import NeuralNet
import SafeTensors
import TensorEngine

/// Attribute classifier for toy pictures: five 3x3 convolutions (stride 2 instead of pooling, SiLU,
/// no normalisation), global average pooling, and four linear heads: shape, colour and style (one
/// logit per entry of `ToyConcepts.shapes`, `.colours`, `.styles`) and watermark (2 logits: not / is
/// the "zq watermark" logo). The watermark is a separate head rather
/// than one more shape so that "how watermark-like is this picture" is one probability; the other
/// heads are trained on non-watermark pictures only (their output on the logo is meaningless).
///
/// Channels are `width * [1, 1, 2, 2, 4]`, spatial sizes 32 -> 32 -> 16 -> 16 -> 8 -> 4.
public final class ToyClassifier: Module {
    /// Architecture settings, stored in the safetensors metadata.
    public struct Configuration: Codable, Equatable, Sendable {
        /// Channels of the first convolution; the others are multiples of it.
        public var width: Int

        public init(width: Int = 24) { self.width = width }

        var channels: [Int] { [1, 1, 2, 2, 4].map { $0 * width } }
        var strides: [Int] { [1, 2, 1, 2, 2] }
        /// Length of the `features` vector.
        public var featureCount: Int { 4 * width }
    }

    public let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d, conv4: Conv2d, conv5: Conv2d
    public let shape_head: Linear, colour_head: Linear, style_head: Linear, watermark_head: Linear
    /// Not a parameter (reflection skips non-Tensor, non-Module values).
    public let configuration: Configuration

    /// A classifier with PyTorch-default-like random weights: He-uniform convolutions
    /// (bound sqrt(6 / fan_in)), heads and biases uniform in ±1/sqrt(fan_in), drawn from `PyTorchGenerator(seed:)`.
    public init(configuration: Configuration = Configuration(), seed: UInt64 = 0) {
        self.configuration = configuration
        let ch = configuration.channels
        let st = configuration.strides
        var convs: [Conv2d] = []
        var inCh = 3
        for i in 0..<5 {
            convs.append(Conv2d(inCh, ch[i], kernelSize: 3, stride: st[i], padding: 1))
            inCh = ch[i]
        }
        conv1 = convs[0]
        conv2 = convs[1]
        conv3 = convs[2]
        conv4 = convs[3]
        conv5 = convs[4]
        let f = configuration.featureCount
        shape_head = Linear(f, ToyConcepts.shapes.count)
        colour_head = Linear(f, ToyConcepts.colours.count)
        style_head = Linear(f, ToyConcepts.styles.count)
        watermark_head = Linear(f, 2)
        super.init()
        var g = PyTorchGenerator(seed: seed)
        func fill(_ t: Tensor, bound: Float) {
            let u = g.rand(count: t.count)
            for i in 0..<t.count { t.pointer[i] = (2 * u[i] - 1) * bound }
        }
        for c in convs {
            let fanIn = Float(c.weight.shape[1] * 9)
            fill(c.weight, bound: (6 / fanIn).squareRoot())
            if let b = c.bias { fill(b, bound: 1 / fanIn.squareRoot()) }
        }
        for head in heads {
            let bound = 1 / Float(f).squareRoot()
            fill(head.weight, bound: bound)
            if let b = head.bias { fill(b, bound: bound) }
        }
    }

    private var heads: [Linear] { [shape_head, colour_head, style_head, watermark_head] }

    /// The pooled penultimate activations (input of the heads), e.g. for a Fréchet distance.
    // images: [B, 3, 32, 32] in [-1, 1] -> [B, featureCount]
    public func features(_ images: Tensor) -> Tensor {
        var x = images
        for conv in [conv1, conv2, conv3, conv4, conv5] { x = conv(x).silu() }
        return x.mean(axes: [2, 3])
    }

    /// Logits of the four heads.
    public struct Logits {
        /// [B, shapes], [B, colours], [B, styles], [B, 2]
        public let shape: Tensor, colour: Tensor, style: Tensor, watermark: Tensor
    }

    // images: [B, 3, 32, 32] -> logits [B, classes] per head
    public func callAsFunction(_ images: Tensor) -> Logits {
        let f = features(images)
        return Logits(shape: shape_head(f), colour: colour_head(f), style: style_head(f), watermark: watermark_head(f))
    }

    /// Predicted labels per head (watermark: 1 = the logo).
    public struct Predictions: Equatable, Sendable {
        public let shape: [Int], colour: [Int], style: [Int], watermark: [Int]

        public init(shape: [Int], colour: [Int], style: [Int], watermark: [Int]) {
            self.shape = shape
            self.colour = colour
            self.style = style
            self.watermark = watermark
        }
    }

    /// Arg-max labels, without gradients.
    // images: [B, 3, 32, 32]
    public func predict(_ images: Tensor) -> Predictions {
        GradMode.withNoGrad {
            let l = self(images)
            return Predictions(
                shape: Self.argmax(l.shape), colour: Self.argmax(l.colour),
                style: Self.argmax(l.style), watermark: Self.argmax(l.watermark))
        }
    }

    /// Row-wise arg-max of [B, C] (first maximum on ties).
    public static func argmax(_ logits: Tensor) -> [Int] {
        let b = logits.shape[0]
        let c = logits.shape[1]
        let p = logits.pointer
        return (0..<b).map { r in
            var best = 0
            for j in 1..<c where p[r * c + j] > p[r * c + best] { best = j }
            return best
        }
    }

    // MARK: Files

    /// Metadata key holding the JSON `Configuration`.
    public static let configurationKey = "toy_classifier_configuration"

    /// Writes the weights and the architecture (metadata) as safetensors, atomically.
    public func save(path: String, extraMetadata: [String: String] = [:]) throws {
        var writer = SafeTensorsWriter()
        for (key, t) in namedParameters() { try writer.add(key, shape: t.shape, floats: t.scalars) }
        var metadata = extraMetadata
        metadata["format"] = "pt"
        metadata[Self.configurationKey] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        try writer.write(to: path, metadata: metadata)
    }

    /// Loads a file written by `save`, strictly (architecture from the metadata; every key must match).
    public static func load(path: String) throws -> ToyClassifier {
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata[configurationKey] else {
            throw ToyError("\(path): metadata has no '\(configurationKey)' (not a toy classifier file)")
        }
        let configuration: Configuration
        do {
            configuration = try JSONDecoder().decode(Configuration.self, from: Data(json.utf8))
        } catch {
            throw ToyError("\(path): metadata '\(configurationKey)' is not a valid configuration: \(json)")
        }
        guard (1...1024).contains(configuration.width) else {
            throw ToyError("\(path): configuration width \(configuration.width) is out of range 1...1024")
        }
        let model = ToyClassifier(configuration: configuration)
        try model.load(from: TensorSource(files: [file]))
        return model
    }

    /// Location of the shipped classifier file in the Toy resource bundle.
    public static var bundledURL: URL? {
        Bundle.module.url(forResource: "classifier", withExtension: "safetensors", subdirectory: "Resources")
    }

    /// The classifier shipped with the package (trained by `sepme train-classifier`).
    public static func bundled() throws -> ToyClassifier {
        guard let url = bundledURL else {
            throw ToyError("the Toy resource bundle has no Resources/classifier.safetensors")
        }
        return try load(path: url.path)
    }
}
